"""The retry_transient_units sensor and retry_units_job, against moto behind a fault proxy:
what a retry run reports on a declared folder's asset (its batch partition when watched), and
when it fails."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    build_sensor_context,
)

from orchestration_pkg.assets.manifest_job import REGISTER_JOB, manifest_run_config
from orchestration_pkg.assets.reporting import manifest_partition
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobResult, JobStatus
from orchestration_pkg.core.registration import build_storage
from orchestration_pkg.definitions import build_definitions
from orchestration_pkg.resources.platform import PlatformResource
from orchestration_pkg.sensors.retry_sensor import (
    RETRY_JOB,
    SENSOR_NAME,
    RetrySchedule,
    attempt_of,
    due_retries,
)
from tests.media import image_bytes

LAKE = AssetKey(["orchestration_pkg", "folder", "lake"])
W = AssetKey(["orchestration_pkg", "folder", "w"])


@pytest.fixture
def setup(tmp_path, s3_bucket, fault_proxy):
    """A job whose one object answered 503 (transient) and one that is missing (permanent)."""
    for name in ("ok.png", "busy.png"):
        s3_bucket.put(name, image_bytes(4, 3, "PNG"), "image/png")
    proxy = fault_proxy(s3_bucket.endpoint)
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "retry: {max_attempts: 2, backoff_seconds: 0.01, max_backoff_seconds: 0.02}\n"
        "retry_units: {max_attempts: 2, backoff_seconds: 0}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {s3_bucket.name}, region: us-east-1,"
        f" endpoint_url: '{proxy.url}', auth: {{method: access_key, access_key_id: testing,"
        " secret_access_key: testing}}\n",
        encoding="utf-8",
    )
    platform = PlatformResource(config_path=str(config))
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    storage = build_storage(platform.app_config().integration("acme"))
    manifest = tmp_path / "m.csv"
    b = s3_bucket.name
    manifest.write_text(
        f"url\ns3://{b}/ok.png\ns3://{b}/busy.png\ns3://{b}/gone.png\n", encoding="utf-8"
    )
    proxy.fault = lambda method, path: "503" if "busy.png" in path else None
    result = RegistrationEngine(catalog, storage).register(
        read_manifest(manifest), "lake", RegistrationOptions(ignore_errors=True, fetch="head")
    )
    assert {e.row: e.code for e in result.unit_errors} == {3: "server_error", 4: "not_found"}
    yield config, platform, catalog, proxy, result
    catalog.dispose()


def _tick(sensor, platform):
    with (
        DagsterInstance.ephemeral() as instance,
        build_sensor_context(instance=instance, resources={"platform": platform}) as ctx,
    ):
        return sensor(ctx).run_requests or []


def test_sensor_requests_a_due_retry_and_the_job_registers_it(setup):
    config, platform, catalog, proxy, first = setup
    assert due_retries(catalog, RetrySchedule(backoff_seconds=3600)) == []  # backoff not over
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    (request,) = _tick(sensor, platform)
    assert request.run_key == f"retry:{first.job_id}"
    assert request.tags["orchestration_pkg/integration"] == first.integration  # the queue limit
    proxy.fault = lambda method, path: None  # the server recovers
    run = defs.resolve_job_def(RETRY_JOB).execute_in_process(
        run_config=request.run_config, resources={"platform": platform}
    )
    assert run.success
    (retry,) = [j for j in catalog.list_jobs() if j.retry_of == first.job_id]
    # only the transient unit was re-attempted; the missing object is skipped with its reason
    assert (retry.status, retry.registered, retry.failed, retry.skipped) == (
        JobStatus.DONE,
        1,
        0,
        1,
    )
    assert {f.key for f in catalog.iter_files("lake")} == {"ok.png", "busy.png"}
    assert _tick(sensor, platform) == []  # retried once; the retry has no failed units


def test_attempts_follow_the_retry_chain_and_stop_at_max_attempts(setup):
    _config, _platform, catalog, _proxy, first = setup
    now = datetime.now(timezone.utc)
    schedule = RetrySchedule(max_attempts=2, backoff_seconds=10)
    assert due_retries(catalog, schedule, now) == []  # 10 s after it finished: not yet
    assert [j.job_id for j in due_retries(catalog, schedule, now + timedelta(seconds=11))] == [
        first.job_id
    ]
    done = {"status": JobStatus.DONE, "folder": "f", "integration": "i"}
    a = JobResult(job_id="a", **done)
    b = JobResult(job_id="b", retry_of="a", **done)
    c = JobResult(job_id="c", retry_of="b", **done)
    by_id = {j.job_id: j for j in (a, b, c)}
    assert [attempt_of(j, by_id) for j in (a, b, c)] == [0, 1, 2]
    assert attempt_of(JobResult(job_id="d", retry_of="zz", **done), by_id) == 1


def _retry(defs, platform, job_id, instance):
    return defs.resolve_job_def(RETRY_JOB).execute_in_process(
        run_config={"ops": {"retry_failed_units": {"config": {"job_id": job_id}}}},
        resources={"platform": platform},
        instance=instance,
        raise_on_error=False,
    )


def _reported(instance, run):
    """(materializations, check evaluations) of ``run`` as the instance stores them (what the
    asset page shows; an in-process result leaves out what a failed step logged)."""
    mats = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    checks = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    return (
        [r.asset_materialization for r in mats],
        [r.event_log_entry.dagster_event.event_specific_data for r in checks],
    )


def _declare(config, folders: str) -> PlatformResource:
    with config.open("a", encoding="utf-8") as out:
        out.write(folders)
    return PlatformResource(config_path=str(config))


def test_a_retry_into_a_declared_folder_reports_on_its_asset_and_fails_while_units_fail(setup):
    config, _, catalog, proxy, first = setup
    platform = _declare(config, "folders:\n  lake: {check: {severity: warn}}\n")
    defs = build_definitions(config)
    with DagsterInstance.ephemeral() as instance:
        still = _retry(defs, platform, first.job_id, instance)  # the server still answers 503
        assert not still.success  # lake does not ignore errors: the retry's work failed
        failure = next(e for e in still.all_events if e.event_type_value == "STEP_FAILURE")
        assert "1 unit(s) still failing" in failure.event_specific_data.error.message
        (mat,), (check,) = _reported(instance, still)
        meta = mat.metadata
        assert mat.asset_key == LAKE and meta["retry_of"].value == first.job_id
        assert meta["failed"].value == 1 and meta["unit_errors"].value.records
        assert {"preview", "summary", "folder_files"} <= set(meta)
        assert (check.asset_key, check.passed) == (LAKE, False)
        assert check.severity is AssetCheckSeverity.WARN
        (retry,) = [j for j in catalog.list_jobs() if j.retry_of == first.job_id]
        proxy.fault = lambda method, path: None  # the server recovers: retry the retry
        run = _retry(defs, platform, retry.job_id, instance)
        assert run.success
        (mat,), (check,) = _reported(instance, run)
        assert mat.metadata["registered"].value == 1 and check.passed
        (preview,) = mat.metadata["preview"].value.records
        assert preview.data["key"] == "busy.png"


def test_a_retry_into_an_adhoc_folder_reports_nothing_asset_related(setup):
    config, platform, _catalog, _proxy, first = setup
    with DagsterInstance.ephemeral() as instance:
        run = _retry(build_definitions(config), platform, first.job_id, instance)
    assert run.success  # still failing, but the original job ignored errors
    assert run.get_asset_materialization_events() == []
    assert run.get_asset_check_evaluations() == []


def test_a_retry_of_a_manifest_batch_reports_on_the_same_partition(setup, tmp_path):
    config, _, catalog, proxy, _first = setup
    text = config.read_text(encoding="utf-8").replace(
        "secret_access_key: testing}", "secret_access_key: testing}, watch: {folder: w, prefix: w/}"
    )
    config.write_text(text, encoding="utf-8")
    platform = PlatformResource(config_path=str(config))
    defs = build_definitions(config)
    manifest = tmp_path / "m.csv"
    with DagsterInstance.ephemeral() as instance:
        run = defs.resolve_job_def(REGISTER_JOB).execute_in_process(
            run_config=manifest_run_config(str(manifest), "w", ignore_errors=True),
            resources={"platform": platform},
            instance=instance,
        )
        (mat,) = run.get_asset_materialization_events()
        partition = mat.materialization.partition
        assert mat.asset_key == W and partition == manifest_partition(str(manifest), run.run_id)
        assert instance.get_dynamic_partitions("acme_batches") == [partition]
        (check,) = run.get_asset_check_evaluations()
        assert (check.partition, check.passed) == (partition, False)  # busy.png: 503
        job = next(j for j in catalog.list_jobs() if j.folder == "w")
        proxy.fault = lambda method, path: None
        retried = _retry(defs, platform, job.job_id, instance)
        assert retried.success
        (mat,), (check,) = _reported(instance, retried)
        assert (mat.asset_key, mat.partition) == (W, partition)
        assert (check.partition, check.passed) == (partition, True)
        assert instance.get_dynamic_partitions("acme_batches") == [partition]
    assert {f.key for f in catalog.iter_files("w")} == {"ok.png", "busy.png"}
