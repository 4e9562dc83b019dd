"""Job lifecycle on real catalogs (SQLite file, throwaway PostgreSQL) and a real S3 server:
PENDING → RUNNING → DONE | FAILED | ABANDONED, heartbeats, the sweep, staged strict jobs,
batch writes in short transactions, a busy catalog, an interrupt."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration_pkg.core.catalog import Catalog, CatalogBusyError, FileRecord, JobGoneError
from orchestration_pkg.core.catalog.lifecycle import Heartbeat
from orchestration_pkg.core.catalog.schema import _now, jobs
from orchestration_pkg.core.engine import Progress, RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.interrupts import JobInterrupted
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.s3.storage import S3Storage
from tests.media import image_bytes

N = 12


@pytest.fixture
def storage(s3_bucket, s3_config_factory) -> S3Storage:
    for i in range(N):
        s3_bucket.put(f"img/{i:03d}.png", image_bytes(8 + i, 6, "PNG"), "image/png")
    return S3Storage(s3_config_factory())


@pytest.fixture
def catalog(catalog_url):
    cat = Catalog(catalog_url, stale_after_s=0.4, busy_timeout_s=1.0)
    yield cat
    cat.dispose()


def _manifest(tmp_path: Path, bucket: str, keys: list[str]) -> Path:
    path = tmp_path / "m.json"
    rows = [{"objectUrl": f"s3://{bucket}/{k}"} for k in keys]
    path.write_text(json.dumps({"images": rows}), encoding="utf-8")
    return path


def _keys(n: int = N) -> list[str]:
    return [f"img/{i:03d}.png" for i in range(n)]


def _register(catalog, storage, path, progress=None, **opts):
    options = RegistrationOptions(max_images_per_batch=4, concurrency=4, **opts)
    engine = RegistrationEngine(catalog, storage)
    return engine.register(
        read_manifest(path), "lake", options, manifest_name=str(path), progress=progress
    )


def _state(catalog: Catalog) -> list[tuple[str, str | None, bool]]:
    with catalog.engine.connect() as conn:
        rows = conn.execute(sa.select(jobs.c.status, jobs.c.owner, jobs.c.started_at)).all()
    return [(r.status, r.owner, r.started_at is not None) for r in rows]


def test_job_runs_with_owner_heartbeat_and_staged_rows_invisible_until_published(
    tmp_path, s3_bucket, storage, catalog
):
    seen: list[tuple] = []

    def progress(p: Progress) -> None:  # between batches: what a reader sees
        job = catalog.list_jobs()[0]
        visible = catalog.count_files("lake") if catalog.list_folders() else 0
        seen.append((job.status, job.owner, job.run_id, visible, catalog.staged_count(job.job_id)))

    path = _manifest(tmp_path, s3_bucket.name, _keys())
    result = _register(catalog, storage, path, progress, run_id="run-123")
    assert result.status is JobStatus.DONE and result.created == N
    me = f"{socket.gethostname()}:{os.getpid()}"
    # three batches of 4 staged one by one, none visible to readers before the publish
    assert [s[:3] for s in seen[:3]] == [(JobStatus.RUNNING, me, "run-123")] * 3
    assert [(s[3], s[4]) for s in seen[:3]] == [(0, 4), (0, 8), (0, 12)]
    stored = catalog.get_job(result.job_id)
    assert (stored.status, stored.owner, stored.run_id) == (JobStatus.DONE, me, "run-123")
    assert stored.started_at and stored.heartbeat_at and stored.finished_at
    assert (stored.created, stored.registered) == (N, N)
    assert catalog.count_files("lake") == N and catalog.staged_count() == 0


def test_ignore_errors_batches_are_visible_and_counted_as_they_commit(
    tmp_path, s3_bucket, storage, catalog
):
    seen: list[tuple[int, int]] = []

    def progress(p: Progress) -> None:
        job = catalog.list_jobs()[0]
        seen.append((catalog.count_files("lake"), catalog.job_counts(job.job_id)["registered"]))

    path = _manifest(tmp_path, s3_bucket.name, [*_keys(), "img/missing.png"])
    result = _register(catalog, storage, path, progress, ignore_errors=True)
    assert (result.status, result.registered, result.failed) == (JobStatus.DONE, N, 1)
    assert seen[:3] == [(4, 4), (8, 8), (12, 12)]  # the job row counts what readers can see
    assert catalog.staged_count() == 0


def test_a_failing_strict_job_discards_its_staged_rows_and_stores_zero_counts(
    tmp_path, s3_bucket, storage, catalog
):
    path = _manifest(tmp_path, s3_bucket.name, [*_keys(), "img/missing.png"])
    result = _register(catalog, storage, path)
    assert result.status is JobStatus.FAILED and "nothing was registered" in (result.error or "")
    stored = catalog.get_job(result.job_id)
    assert (stored.registered, stored.created) == (0, 0)
    assert catalog.staged_count() == 0 and catalog.list_folders() == []


def test_an_interrupt_fails_the_job_discards_staged_rows_and_keeps_exact_counts(
    tmp_path, s3_bucket, storage, catalog
):
    def interrupt_after_two(p: Progress) -> None:
        if p.batches == 2:
            raise JobInterrupted("SIGTERM")

    path = _manifest(tmp_path, s3_bucket.name, _keys())
    with pytest.raises(JobInterrupted) as caught:
        _register(catalog, storage, path, interrupt_after_two)
    (job,) = catalog.list_jobs()
    assert caught.value.job_id == job.job_id
    assert (job.status, job.error, job.registered) == (JobStatus.FAILED, "terminated by SIGTERM", 0)
    assert catalog.staged_count() == 0 and catalog.list_folders() == []
    # the same with --ignore-errors: what was committed stays, and the record says how much
    with pytest.raises(KeyboardInterrupt):
        _register(catalog, storage, path, _raise_at_two(KeyboardInterrupt), ignore_errors=True)
    job = catalog.list_jobs()[0]
    assert (job.status, job.error) == (JobStatus.FAILED, "terminated by SIGINT")
    assert job.registered == job.created == catalog.count_files("lake") == 8
    # Dagster terminating a run raises its own BaseException in the step
    from dagster._core.errors import DagsterExecutionInterruptedError

    with pytest.raises(DagsterExecutionInterruptedError):
        _register(catalog, storage, path, _raise_at_two(DagsterExecutionInterruptedError))
    job = catalog.list_jobs()[0]
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        "terminated: the Dagster run was interrupted",
    )


def _raise_at_two(exc_type):
    def progress(p: Progress) -> None:
        if p.batches == 2:
            raise exc_type()

    return progress


def test_sweep_abandons_silent_jobs_and_spares_beating_ones(catalog):
    folder, silent = catalog.start_job("gone", "acme", "m.json", ignore_errors=False, owner="h:1")
    _, beating = catalog.start_job("kept", "acme", "m.json", ignore_errors=False, owner="h:2")
    catalog.mark_running(silent)
    catalog.mark_running(beating)
    catalog.stage_batch(silent, 1, [FileRecord(object_url="s3://b/k", key="k", integration="a")])
    with Heartbeat(catalog, beating):  # every 0.1 s; stale after 0.4 s
        time.sleep(0.8)
        assert catalog.sweep_stale() == [silent]
    gone, kept = catalog.get_job(silent), catalog.get_job(beating)
    assert gone.status is JobStatus.ABANDONED and gone.finished_at is not None
    assert "no heartbeat for" in gone.error and "h:1" in gone.error
    assert kept.status is JobStatus.RUNNING
    assert catalog.staged_count() == 0
    assert [f.name for f in catalog.list_folders()] == ["kept"]  # the folder it made went
    # a swept job writes nothing more and cannot overwrite the sweep's record
    with pytest.raises(JobGoneError):
        catalog.stage_batch(
            silent, 2, [FileRecord(object_url="s3://b/k", key="k", integration="a")]
        )
    with pytest.raises(JobGoneError):
        catalog.write_batch(silent, folder.id, [])
    with pytest.raises(JobGoneError):
        catalog.finish_job(gone.model_copy(update={"status": JobStatus.DONE}))
    assert catalog.get_job(silent).status is JobStatus.ABANDONED
    assert catalog.sweep_stale(now=_now() + timedelta(seconds=5)) == [beating]


def test_every_job_start_sweeps_and_a_swept_job_ends_abandoned(
    tmp_path, s3_bucket, storage, catalog
):
    _, dead = catalog.start_job("lake", "acme", "old.json", ignore_errors=True, owner="h:9")
    with catalog.engine.begin() as conn:  # its process died long ago
        old = _now() - timedelta(hours=1)
        conn.execute(jobs.update().where(jobs.c.id == dead).values(heartbeat_at=old))

    def swept_meanwhile(p: Progress) -> None:
        if p.batches == 1:  # the process was paused past stale_after_s
            catalog.sweep_stale(now=_now() + timedelta(seconds=5))

    path = _manifest(tmp_path, s3_bucket.name, _keys())
    result = _register(catalog, storage, path, swept_meanwhile)
    assert catalog.get_job(dead).status is JobStatus.ABANDONED  # swept when this job started
    assert result.status is JobStatus.ABANDONED and "marked ABANDONED" in result.error
    stored = catalog.get_job(result.job_id)
    assert stored.status is JobStatus.ABANDONED and "no heartbeat" in stored.error
    assert catalog.staged_count() == 0 and catalog.list_folders() == []  # it made "lake"


def test_busy_catalog_fails_the_job_with_one_line_and_a_failed_record(
    tmp_path, s3_bucket, storage, catalog
):
    """Another writer holds the catalog past busy_timeout_s (1 s) in the middle of a job."""
    lock = _lock_catalog(catalog)
    release = threading.Timer(2.5, lock.release)  # after the batch gave up, before the record

    def grab(p: Progress) -> None:
        if p.batches == 1:
            lock.acquire()
            release.start()

    path = _manifest(tmp_path, s3_bucket.name, _keys())
    started = time.monotonic()
    try:
        result = _register(catalog, storage, path, grab, ignore_errors=True)
    finally:
        release.cancel()
        lock.release()
    assert time.monotonic() - started < 8
    assert result.status is JobStatus.FAILED and result.error.startswith("catalog busy: ")
    assert "\n" not in result.error and "within 1 s" in result.error
    stored = catalog.get_job(result.job_id)
    assert (stored.status, stored.error) == (JobStatus.FAILED, result.error)
    assert stored.registered == catalog.count_files("lake") == 4  # the committed first batch


class _lock_catalog:  # noqa: N801 - reads as a function
    """Hold the catalog's write lock from a second connection, as another process would."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.conn: sa.Connection | None = None

    def acquire(self) -> None:
        self.conn = self.catalog.engine.connect()
        if self.catalog.dialect == "sqlite":
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:  # every job write takes its folder's advisory lock (and the jobs table's rows)
            self.conn.exec_driver_sql("LOCK TABLE op_jobs IN EXCLUSIVE MODE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.rollback()
            self.conn.close()
            self.conn = None


def test_two_writers_of_one_folder_take_turns_on_postgresql(postgres_url):
    """PostgreSQL: batch writes into one folder serialise on its advisory lock; a writer that
    cannot get it within busy_timeout_s fails with 'catalog busy'."""
    from orchestration_pkg.core.catalog.txn import _PG_FOLDER_LOCK

    catalog = Catalog(postgres_url, busy_timeout_s=0.5)
    try:
        folder, job_id = catalog.start_job("pg-lock", "acme", "m", ignore_errors=True)
        catalog.mark_running(job_id)
        record = FileRecord(object_url="s3://b/pg-lock", key="pg-lock", integration="acme")
        with catalog.engine.connect() as other:
            other.execute(
                sa.text("SELECT pg_advisory_xact_lock(:ns, :f)"),
                {"ns": _PG_FOLDER_LOCK, "f": folder.id},
            )
            with pytest.raises(CatalogBusyError, match="^catalog busy: could not write a batch"):
                catalog.write_batch(job_id, folder.id, [record])
            other.rollback()
        assert catalog.write_batch(job_id, folder.id, [record]).created == 1
    finally:
        with catalog.engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM op_files; DELETE FROM op_jobs; DELETE FROM op_folders")
            )
        catalog.dispose()


def test_dagster_sweep_sensor_abandons_stale_jobs(tmp_path):
    from dagster import DagsterInstance, build_sensor_context

    from orchestration_pkg.definitions import build_definitions
    from orchestration_pkg.resources.platform import PlatformResource

    url = f"sqlite:///{tmp_path / 'c.db'}"
    config = tmp_path / "cfg.yaml"
    config.write_text(f"catalog: {url}\njobs: {{stale_after_s: 30}}\n", encoding="utf-8")
    sensor = build_definitions(config).resolve_sensor_def("sweep_abandoned_jobs")
    assert sensor.minimum_interval_seconds == 15
    catalog = Catalog(url)
    try:
        _, dead = catalog.start_job("lake", "acme", "m.json", ignore_errors=True, owner="h:7")
        _, alive = catalog.start_job("lake", "acme", "n.json", ignore_errors=True, owner="h:8")
        with catalog.engine.begin() as conn:
            old = _now() - timedelta(seconds=31)
            conn.execute(jobs.update().where(jobs.c.id == dead).values(heartbeat_at=old))

        def tick() -> str:
            platform = PlatformResource(config_path=str(config))
            with (
                DagsterInstance.ephemeral() as instance,
                build_sensor_context(instance=instance, resources={"platform": platform}) as ctx,
            ):
                result = sensor(ctx)
            return result.skip_message

        assert f"marked 1 job(s) ABANDONED: {dead}" in tick()
        assert "no stale jobs" in tick()
        assert catalog.get_job(dead).status is JobStatus.ABANDONED
        assert catalog.get_job(alive).status is JobStatus.PENDING
    finally:
        catalog.dispose()
