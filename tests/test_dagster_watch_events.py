"""The Dagster watch sensor on bucket notifications (moto S3 → moto SQS → the catalog inbox →
one run per batch partition), and failed batches re-requested under new run keys, on both the
notification and the polling path, through Dagster's own test harness and a real instance."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dagster import DagsterInstance, build_sensor_context

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.definitions import build_definitions
from orchestration_pkg.sensors.watch_attempts import run_key
from tests.fixtures.moto_server import moto_client
from tests.media import image_bytes

PNG = "image/png"
EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]


def _write_config(tmp_path, endpoint: str, bucket: str, watch: str, retry: int = 1) -> Any:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        f"  - name: acme\n    provider: s3\n    bucket: {bucket}\n    region: us-east-1\n"
        f"    endpoint_url: '{endpoint}'\n"
        "    auth: {method: access_key, access_key_id: testing, secret_access_key: testing}\n"
        f"    retry: {{max_attempts: {retry}, backoff_seconds: 0}}\n"
        f"    watch: {watch}\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def queue(moto_endpoint, s3_bucket):
    """An SQS queue on moto receiving ``s3_bucket``'s notifications (after its TestEvent)."""
    sqs = moto_client(moto_endpoint, "sqs")
    url = sqs.create_queue(QueueName=f"ev-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    s3_bucket.client.put_bucket_notification_configuration(
        Bucket=s3_bucket.name,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn["QueueArn"], "Events": EVENTS}]
        },
    )
    return sqs, url


def _tick(defs, instance):
    sensor = defs.resolve_sensor_def("watch_sensor_acme")
    with build_sensor_context(
        instance=instance, resources={"platform": defs.resources["platform"]}
    ) as ctx:
        return sensor(ctx)


def _run(defs, instance, request):
    instance.add_dynamic_partitions("acme_batches", [request.partition_key])
    return defs.resolve_job_def("watch_job_acme").execute_in_process(
        run_config=request.run_config,
        partition_key=request.partition_key,
        instance=instance,
        tags=request.tags,
        raise_on_error=False,
    )


def _queued(sqs, url) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs[n]) for n in names)


def test_sensor_drains_notifications_into_the_inbox_and_runs_apply_batches(
    tmp_path, s3_bucket, queue, fault_proxy
):
    sqs, url = queue
    proxy = fault_proxy(s3_bucket.endpoint)
    watch = f"{{folder: lake, prefix: raw/, notifications: {{queue_url: '{url}'}}}}"
    defs = build_definitions(_write_config(tmp_path, proxy.url, s3_bucket.name, watch))
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    keys = ["raw/a b.png", "raw/x+y.png", "raw/ü 日本.png"]
    for i, key in enumerate(keys):
        s3_bucket.put(key, image_bytes(5 + i, 4), PNG)
    s3_bucket.put("other/z.png", image_bytes(3, 3), PNG)  # outside the watched prefix
    with DagsterInstance.ephemeral() as instance:
        first = _tick(defs, instance)
        (request,) = first.run_requests
        assert request.partition_key.startswith("ev-") and request.run_key == request.partition_key
        assert request.tags["orchestration_pkg/watch_attempt"] == "1"
        assert [r.partition_keys for r in first.dynamic_partitions_requests] == [
            [request.partition_key]
        ]
        assert _queued(sqs, url) == 0  # the events are in the inbox: the messages are gone
        assert ib.status_counts(catalog, "acme", "lake") == {"pending": 3}
        assert proxy.count() == 0  # a tick costs no storage request at all
        again = _tick(defs, instance)  # no run yet: the same batch under the same run key
        assert [r.run_key for r in again.run_requests] == [request.run_key]
        run = _run(defs, instance, request)
        assert run.success
        assert proxy.count("GET", "list-type") == 0  # registered without a listing
        assert sorted(f.key for f in catalog.iter_files("lake")) == sorted(keys)
        assert ib.status_counts(catalog, "acme", "lake") == {"done": 3}
        (mat,) = run.get_asset_materialization_events()
        md = mat.materialization.metadata
        assert (md["created"].value, md["events"].value, md["failed"].value) == (3, 3, 0)
        assert [c.passed for c in run.get_asset_check_evaluations()] == [True]
        idle = _tick(defs, instance)
        assert not idle.run_requests and "0 batch(es) pending" in idle.skip_reason.skip_message
        # a deletion: one more batch, applying on_delete (mark)
        s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="raw/a b.png")
        (removal,) = _tick(defs, instance).run_requests
        assert removal.partition_key != request.partition_key
        assert _run(defs, instance, removal).success
        assert sorted(f.key for f in catalog.iter_files("lake")) == sorted(keys[1:])
        rerun = _run(defs, instance, removal)  # a re-execution: nothing left to apply
        assert rerun.success
        (mat,) = rerun.get_asset_materialization_events()
        assert mat.materialization.metadata["events"].value == 0
    catalog.dispose()


def test_failed_event_batch_is_requested_again_then_given_up(
    tmp_path, s3_bucket, queue, fault_proxy
):
    sqs, url = queue
    proxy = fault_proxy(s3_bucket.endpoint)
    watch = (
        "{folder: lake, prefix: raw/, ignore_errors: false, max_batch_attempts: 2, "
        f"notifications: {{queue_url: '{url}'}}}}"
    )
    defs = build_definitions(_write_config(tmp_path, proxy.url, s3_bucket.name, watch))
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    s3_bucket.put("raw/a.png", image_bytes(4, 4), PNG)
    with DagsterInstance.ephemeral() as instance:
        (request,) = _tick(defs, instance).run_requests
        proxy.fault = lambda method, path: "503"  # the storage is down during the run
        failed = _run(defs, instance, request)
        assert not failed.success  # strict: the registration FAILED, so does the run
        assert ib.status_counts(catalog, "acme", "lake") == {"pending": 1}
        (retry,) = _tick(defs, instance).run_requests  # the failed batch, requested again
        assert retry.partition_key == request.partition_key
        assert retry.run_key == run_key(request.partition_key, 2) != request.run_key
        assert retry.tags["orchestration_pkg/watch_attempt"] == "2"
        proxy.reset()  # the storage is back
        assert _run(defs, instance, retry).success
        assert [f.key for f in catalog.iter_files("lake")] == ["raw/a.png"]
        assert not _tick(defs, instance).run_requests
        # a batch that fails max_batch_attempts (2) times is given up, visibly
        s3_bucket.put("raw/b.png", image_bytes(4, 4), PNG)
        (bad,) = _tick(defs, instance).run_requests
        proxy.fault = lambda method, path: "503"
        assert not _run(defs, instance, bad).success
        (bad2,) = _tick(defs, instance).run_requests
        assert not _run(defs, instance, bad2).success
        last = _tick(defs, instance)
        assert not last.run_requests and "1 given up (1 event(s))" in last.skip_reason.skip_message
        assert ib.status_counts(catalog, "acme", "lake") == {"done": 1, "failed": 1}
        pending = ib.batch_events(catalog, "acme", "lake", bad.partition_key)
        assert pending == []  # nothing pending any more; the reason is on the event
        with catalog.engine.connect() as conn:
            (error,) = conn.exec_driver_sql(
                "SELECT error FROM op_watch_events WHERE status = 'failed'"
            ).scalars()
        assert "gave up after 2 run(s)" in error and "FAILURE" in error
    catalog.dispose()


def test_failed_polling_batch_is_requested_again(tmp_path, s3_bucket, fault_proxy):
    proxy = fault_proxy(s3_bucket.endpoint)
    watch = "{folder: lake, prefix: raw/, ignore_errors: false, max_batch_attempts: 2}"
    defs = build_definitions(_write_config(tmp_path, proxy.url, s3_bucket.name, watch))
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    s3_bucket.put("raw/a.png", image_bytes(4, 4), PNG)
    with DagsterInstance.ephemeral() as instance:
        (request,) = _tick(defs, instance).run_requests
        assert request.run_key == request.partition_key
        proxy.fault = lambda method, path: None if "list-type" in path else "503"
        assert not _run(defs, instance, request).success
        (retry,) = _tick(defs, instance).run_requests  # the same batch, its 2nd attempt
        assert retry.partition_key == request.partition_key
        assert retry.run_key == f"{request.partition_key}/attempt-2"
        assert not _run(defs, instance, retry).success
        given_up = _tick(defs, instance)  # 2 of 2 attempts failed: no more runs
        assert not given_up.run_requests and "1 given up" in given_up.skip_reason.skip_message
        proxy.reset()
        s3_bucket.put("raw/a.png", image_bytes(5, 5), PNG)  # changed: a new batch
        (fresh,) = _tick(defs, instance).run_requests
        assert fresh.partition_key != request.partition_key
        assert _run(defs, instance, fresh).success
        assert catalog.count_files("lake") == 1
    catalog.dispose()
