"""The S3 → SQS event path against moto (S3 delivering real notifications to its SQS) and real
catalogs: no listing, at-least-once, idempotent re-delivery, poison messages, request costs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from orchestration_pkg.core.catalog import Catalog, watch_events
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.notifications import NotificationConsumer, batches
from orchestration_pkg.core.notifications.s3_sqs import SqsQueue, sqs_region
from orchestration_pkg.core.registration import build_storage
from tests.cli_run import CLI, run_cli
from tests.fixtures.moto_server import moto_client
from tests.media import image_bytes
from tests.notification_helpers import KEYS, PNG, counts, drain, files

EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]


@pytest.fixture
def sqs_queue(moto_endpoint):
    """(sqs client, queue URL, queue ARN) of a fresh queue on the moto server."""
    sqs = moto_client(moto_endpoint, "sqs")
    url = sqs.create_queue(QueueName=f"ev-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return sqs, url, arn["QueueArn"]


def notify(bucket: Any, arn: str) -> None:
    """The bucket's event notifications go to the queue (moto sends an s3:TestEvent first)."""
    bucket.client.put_bucket_notification_configuration(
        Bucket=bucket.name,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": EVENTS}]},
    )


@pytest.fixture
def watched(s3_bucket, s3_config_factory, fault_proxy, sqs_queue):
    """A consumer factory for integration prefix raw/ (watch prefix ''), S3 through a counting
    proxy; the SQS queue receives the bucket's notifications."""
    sqs, url, arn = sqs_queue
    notify(s3_bucket, arn)
    proxy = fault_proxy(s3_bucket.endpoint)

    def make(catalog: Catalog, on_delete: str = "mark", **settings: Any) -> NotificationConsumer:
        notifications = {"queue_url": url, **settings}
        watch = {"folder": "lake", "on_delete": on_delete, "notifications": notifications}
        cfg = s3_config_factory(prefix="raw/", endpoint_url=proxy.url, watch=watch)
        storage = build_storage(cfg)
        assert cfg.watch is not None and cfg.watch.notifications is not None
        return NotificationConsumer(
            catalog,
            storage,
            SqsQueue.for_storage(storage, cfg.watch.notifications),
            folder="lake",
            bucket=s3_bucket.name,
            key_prefix="raw/",
            on_delete=cfg.watch.on_delete,
            settings=cfg.watch.notifications,
        )

    return make, s3_bucket, proxy, sqs, url


def queue_size(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs[n]) for n in names)


def test_real_notifications_register_update_and_remove_without_listing(catalog, watched):
    make, bucket, proxy, sqs, url = watched
    consumer = make(catalog)
    for key, (w, h) in KEYS.items():
        bucket.put(key, image_bytes(w, h), PNG)
    bucket.put("elsewhere/z.png", image_bytes(3, 3), PNG)  # outside the integration prefix
    first = drain(consumer)
    assert counts(first) == (3, 0, 0, 0, 0)
    assert (first.messages, first.poison, first.ignored) == (5, 0, 1)  # + the s3:TestEvent
    rows = files(catalog)
    assert {k: (r.width, r.height) for k, r in rows.items()} == KEYS
    assert all(r.etag and r.size and r.integration == "acme" for r in rows.values())
    assert proxy.count("GET", "list-type") == 0
    assert queue_size(sqs, url) == 0  # every message deleted after the commit

    bucket.put("raw/a b.png", image_bytes(9, 8), PNG)  # overwritten
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/x+y.png")  # deleted
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/ü/日本 +%.png")  # deleted, then
    bucket.put("raw/ü/日本 +%.png", image_bytes(2, 2), PNG)  # re-created in the same drain
    second = drain(consumer)
    assert counts(second) == (0, 2, 1, 0, 0), second
    after = files(catalog, include_removed=True)
    assert (after["raw/a b.png"].width, after["raw/a b.png"].id) == (9, rows["raw/a b.png"].id)
    assert after["raw/x+y.png"].removed_at is not None
    assert after["raw/ü/日本 +%.png"].removed_at is None and after["raw/ü/日本 +%.png"].width == 2
    assert proxy.count("GET", "list-type") == 0

    empty = drain(consumer)
    assert empty.job is None and empty.messages == 0 and empty.as_json()["status"] == "IDLE"


def test_remove_mode_and_recreated_key_is_unmarked(catalog, watched):
    make, bucket, _, _, _ = watched
    bucket.put("raw/a.png", image_bytes(4, 4), PNG)
    drain(make(catalog, on_delete="mark"), fetch="none")
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/a.png")
    assert drain(make(catalog, on_delete="mark")).removed == 1
    bucket.put("raw/a.png", image_bytes(4, 4), PNG)
    assert counts(drain(make(catalog), fetch="none"))[:2] == (0, 1)  # the marked row comes back
    assert files(catalog)["raw/a.png"].removed_at is None
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/a.png")
    assert drain(make(catalog, on_delete="remove")).removed == 1
    assert files(catalog, include_removed=True) == {}


def _body(detail_type: str, key: str, bucket: str, seq: str, size: int = 1) -> str:
    detail = {"bucket": {"name": bucket}, "object": {"key": key, "size": size, "sequencer": seq}}
    return json.dumps({"source": "aws.s3", "detail-type": detail_type, "detail": detail})


def test_eventbridge_sns_test_and_poison_bodies(catalog, watched, caplog):
    make, bucket, _, sqs, url = watched
    consumer = make(catalog)
    drain(consumer)  # the configuration's s3:TestEvent
    bucket.client.put_bucket_notification_configuration(
        Bucket=bucket.name, NotificationConfiguration={}
    )
    bucket.put("raw/e b.bin", b"12345", "application/octet-stream")
    bucket.put("raw/sns+x.bin", b"1", "application/octet-stream")
    signed = "https://b.s3.amazonaws.com/k?X-Amz-Signature=SECRET"
    bodies = [
        # one key created then deleted: sequencer order (0x100 > 0xFF) says deleted
        _body("Object Created", "raw/gone.bin", bucket.name, "FF"),
        _body("Object Deleted", "raw/gone.bin", bucket.name, "0100"),
        _body("Object Created", "raw/e b.bin", bucket.name, "01", size=5),
        json.dumps(
            {
                "Type": "Notification",
                "Message": _body("Object Created", "raw/sns+x.bin", bucket.name, "02"),
            }
        ),
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}),
        _body("Object Created", "raw/other-bucket.bin", "not-ours", "03"),
        f"garbage {signed}",
        json.dumps({"unknown": signed}),
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    result = drain(consumer, fetch="head")
    assert (result.messages, result.poison, result.ignored) == (8, 2, 1)
    assert counts(result) == (2, 0, 0, 0, 0)
    assert set(files(catalog)) == {"raw/e b.bin", "raw/sns+x.bin"}
    assert files(catalog)["raw/e b.bin"].size == 5  # the event's size (HEAD found the object)
    assert queue_size(sqs, url) == 0  # poison deleted too (poison: delete)
    assert "SECRET" not in caplog.text and "garbage" not in caplog.text
    assert caplog.text.count("poison message") == 2


def test_poison_left_for_the_dead_letter_policy(catalog, watched):
    make, _, _, sqs, url = watched
    consumer = make(catalog, poison="leave", visibility_timeout=30)
    drain(consumer)
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    result = drain(consumer)
    assert (result.poison, result.deleted_messages) == (1, 0)
    assert queue_size(sqs, url) == 1


def inbox(catalog: Catalog) -> dict[str, int]:
    return ib.status_counts(catalog, "acme", "lake")


def test_crash_between_inbox_commit_and_delete_redelivers_idempotently(catalog, watched):
    make, bucket, _, sqs, url = watched
    consumer = make(catalog, visibility_timeout=1)
    drain(consumer)  # the s3:TestEvent
    for key in ("raw/a.png", "raw/b c.png"):
        bucket.put(key, image_bytes(4, 3), PNG)
    real_delete = consumer.queue.delete
    calls = []

    def crash_once(messages):
        calls.append(len(messages))
        if len(calls) == 1:
            raise RuntimeError("killed between the inbox commit and the delete")
        return real_delete(messages)

    consumer.queue.delete = crash_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        consumer.drain(RegistrationOptions())
    assert inbox(catalog) == {"pending": 2}  # committed to the inbox before the crash
    assert queue_size(sqs, url) == 2  # not deleted: they come back
    time.sleep(1.5)
    again = drain(consumer)
    assert (again.messages, again.stored) == (2, 0)  # stored before: no duplicate event
    assert counts(again) == (2, 0, 0, 0, 0) and again.batches == 1
    assert inbox(catalog) == {"done": 2}
    assert set(files(catalog)) == {"raw/a.png", "raw/b c.png"}
    assert queue_size(sqs, url) == 0 and calls == [2, 2]


def test_crash_between_registration_and_marking_done_reapplies_idempotently(
    catalog, watched, monkeypatch
):
    make, bucket, _, _, _ = watched
    consumer = make(catalog)
    drain(consumer)
    bucket.put("raw/a.png", image_bytes(4, 3), PNG)
    real_settle = batches.ib.settle

    def crash(*args, **kwargs):
        raise RuntimeError("killed after the files committed")

    monkeypatch.setattr(batches.ib, "settle", crash)
    with pytest.raises(RuntimeError):
        consumer.drain(RegistrationOptions())
    first = files(catalog)
    assert set(first) == {"raw/a.png"} and inbox(catalog) == {"pending": 1}
    monkeypatch.setattr(batches.ib, "settle", real_settle)
    again = drain(consumer)  # the batch again: the same row, unchanged
    assert (again.messages, counts(again)) == (0, (0, 0, 0, 1, 0))
    assert {k: r.id for k, r in files(catalog).items()} == {k: r.id for k, r in first.items()}
    assert inbox(catalog) == {"done": 1}


def test_failed_batch_stays_pending_is_retried_then_given_up(catalog, watched):
    make, bucket, _, sqs, url = watched
    consumer = make(catalog, visibility_timeout=30)
    consumer.max_batch_attempts = 2
    drain(consumer)
    bucket.put("raw/bad.png", b"not a png", PNG)
    bucket.put("raw/fixed.png", b"not a png either", PNG)
    result = consumer.drain(RegistrationOptions())  # strict: nothing registered
    assert result.job is not None and result.job.status is JobStatus.FAILED
    assert result.status == "FAILED" and result.pending == 2
    assert result.deleted_messages == 2 and queue_size(sqs, url) == 0  # kept by the inbox
    assert "lake" not in {f.name for f in catalog.list_folders()}  # nothing registered
    bucket.put("raw/fixed.png", image_bytes(6, 5), PNG)  # fixed; raw/bad.png still bad
    second = consumer.drain(RegistrationOptions())  # the batch again (attempt 2)
    assert second.job is not None and second.job.status is JobStatus.FAILED
    assert second.pending == 3  # + the new event of raw/fixed.png, held back meanwhile
    third = consumer.drain(RegistrationOptions(ignore_errors=True))
    assert third.gave_up == 2  # 2 attempts failed: given up, with a reason
    assert third.added == 1 and third.pending == 0  # the held-back newer event applied
    assert files(catalog)["raw/fixed.png"].width == 6
    assert inbox(catalog) == {"failed": 2, "done": 1}
    with catalog.engine.connect() as conn:
        errors = conn.execute(
            sa.select(watch_events.c.error).where(watch_events.c.status == "failed")
        ).scalars()
        assert all("gave up after 2 failed attempt(s)" in e for e in errors)


def _send(sqs: Any, url: str, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)


@pytest.mark.parametrize("on_delete", ["mark", "remove"])
def test_per_key_order_holds_across_drains(catalog, watched, on_delete):
    """A delete arriving in a later drain than a newer create leaves the object, and a stale
    create arriving after a newer delete does not bring it back."""
    make, bucket, _, sqs, url = watched
    consumer = make(catalog, on_delete=on_delete)
    drain(consumer)  # the s3:TestEvent
    bucket.client.put_bucket_notification_configuration(
        Bucket=bucket.name, NotificationConfiguration={}
    )
    bucket.put("raw/k.bin", b"12345", "application/octet-stream")
    _send(sqs, url, _body("Object Created", "raw/k.bin", bucket.name, "0A", size=5))
    assert drain(consumer, fetch="none").added == 1
    _send(sqs, url, _body("Object Deleted", "raw/k.bin", bucket.name, "05"))  # older, late
    late = drain(consumer, fetch="none")
    assert (late.removed, late.superseded) == (0, 1)
    assert files(catalog)["raw/k.bin"].removed_at is None
    _send(sqs, url, _body("Object Deleted", "raw/k.bin", bucket.name, "10"))
    assert drain(consumer, fetch="none").removed == 1
    _send(sqs, url, _body("Object Created", "raw/k.bin", bucket.name, "0F", size=5))  # stale
    stale = drain(consumer, fetch="none")
    assert (stale.added, stale.updated, stale.superseded) == (0, 0, 1)
    assert "raw/k.bin" not in files(catalog)  # still gone (marked, or removed)
    _send(sqs, url, _body("Object Created", "raw/k.bin", bucket.name, "11", size=5))  # newer
    assert sum(counts(drain(consumer, fetch="none"))[:2]) == 1
    assert "raw/k.bin" in files(catalog)


def test_100_new_objects_in_a_bucket_of_1000_cost_100_requests_and_no_listing(catalog, watched):
    make, bucket, proxy, sqs, url = watched
    bucket.client.put_bucket_notification_configuration(
        Bucket=bucket.name, NotificationConfiguration={}
    )
    png = image_bytes(3, 2)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: bucket.put(f"raw/old/{i:04d}.png", png, PNG), range(1000)))
    sqs.purge_queue(QueueUrl=url)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    notify(bucket, attrs["QueueArn"])
    consumer = make(catalog, max_messages=1000)
    drain(consumer)  # the s3:TestEvent
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: bucket.put(f"raw/new/{i:03d}.png", png, PNG), range(100)))
    proxy.reset()
    result = drain(consumer)  # fetch auto: one ranged GET per image, nothing else
    assert result.added == 100 and result.messages == 100
    assert proxy.count("GET", "list-type") == 0 and proxy.count("HEAD") == 0
    assert proxy.count() == 100, proxy.count()
    assert len(files(catalog)) == 100


def test_sqs_region_of_queue_urls():
    assert sqs_region("https://sqs.eu-west-1.amazonaws.com/1/q", "us-east-1") == "eu-west-1"
    assert sqs_region("http://127.0.0.1:9324/000000000000/q", "us-east-1") == "us-east-1"


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_config(tmp_path, s3_bucket, sqs_queue):
    sqs, url, arn = sqs_queue
    notify(s3_bucket, arn)
    auth = "{method: access_key, access_key_id: testing, secret_access_key: testing}"
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'cat.db'}\n"
        "integrations:\n"
        "  - name: acme\n    provider: s3\n"
        f"    bucket: {s3_bucket.name}\n    endpoint_url: '{s3_bucket.endpoint}'\n"
        f"    prefix: data/\n    auth: {auth}\n"
        "    watch:\n      folder: lake\n      prefix: raw/\n"
        f"      notifications: {{queue_url: '{url}', max_messages: 50}}\n"
        "  - name: poll\n    provider: s3\n"
        f"    bucket: {s3_bucket.name}\n    endpoint_url: '{s3_bucket.endpoint}'\n"
        f"    prefix: data/\n    auth: {auth}\n"
        "    watch: {folder: polled, prefix: raw/}\n",
        encoding="utf-8",
    )
    return config, s3_bucket, sqs, url


def test_cli_watch_once_json_notifications_and_polling(cli_config):
    config, bucket, sqs, url = cli_config
    bucket.put("data/raw/a b.png", image_bytes(5, 4), PNG)
    bucket.put("data/other.png", image_bytes(5, 4), PNG)
    proc = run_cli(config, "watch", "acme", "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"job_id", "status", "added", "updated", "removed", "unchanged"}
    assert set(doc) >= {"failed", "unit_errors", "messages", "poison"}
    assert (doc["status"], doc["added"], doc["messages"], doc["ignored"]) == ("DONE", 1, 3, 1)
    assert (doc["mode"], doc["folder"], doc["prefix"]) == ("notifications", "lake", "data/raw/")
    assert queue_size(sqs, url) == 0

    proc = run_cli(config, "watch", "poll", "--once", "--json", "--fetch", "none")
    doc = json.loads(proc.stdout)
    assert (doc["mode"], doc["status"], doc["added"], doc["listed"]) == ("polling", "DONE", 1, 1)
    assert "messages" not in doc

    proc = run_cli(config, "watch", "acme", "--once")
    assert proc.returncode == 0 and "no job" in proc.stdout and "messages 0" in proc.stdout
    assert run_cli(config, "watch", "acme", "--once", "--fetch", "x").returncode == 2


def test_cli_watch_loop_stops_on_sigterm(cli_config):
    config, bucket, _, _ = cli_config
    proc = subprocess.Popen(
        [CLI, "--config", str(config), "watch", "acme", "--interval", "0.2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    try:
        bucket.put("data/raw/late.png", image_bytes(2, 2), PNG)
        deadline = time.monotonic() + 60
        catalog_file = config.parent / "cat.db"
        while time.monotonic() < deadline:
            if catalog_file.exists():
                cat = Catalog(f"sqlite:///{catalog_file}")
                try:
                    if any(f.key == "data/raw/late.png" for f in cat.iter_files("lake")):
                        break
                except Exception:
                    pass
                finally:
                    cat.dispose()
            time.sleep(0.2)
        else:
            pytest.fail("the watch loop did not register the new object")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1] == "watch acme: stopped (SIGTERM)"
    assert '"added": 1' in out
