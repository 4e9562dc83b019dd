"""Registrations as separate processes against real catalogs (SQLite file, throwaway
PostgreSQL) and a real S3 server: many at once, SIGKILL at random moments, SIGTERM/SIGINT.

Children are forked from a preloaded server (tests/fixtures/forked.py): real processes with
their own pids and signals, without paying the interpreter's imports twenty times.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import time
from multiprocessing import forkserver
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration_pkg.core.catalog import Catalog, files, jobs
from orchestration_pkg.core.models import JobStatus
from tests.fixtures.forked import Child, start_cli, start_register
from tests.media import image_bytes

KEYS = 48
HOST = socket.gethostname()


@pytest.fixture(scope="module", autouse=True)
def _fork_server() -> None:
    forkserver.ensure_running()  # started (and its imports paid) once, outside any timing


@pytest.fixture(scope="module")
def images(moto_endpoint):
    """One bucket of KEYS small PNGs, shared by the tests of this module (read-only)."""
    from tests.fixtures.moto_server import MotoBucket, moto_client

    client = moto_client(moto_endpoint)
    name = f"rel-{int(time.time() * 1000) % 10**9}"
    client.create_bucket(Bucket=name)
    bucket = MotoBucket(name=name, endpoint=moto_endpoint, client=client)
    for i in range(KEYS):
        bucket.put(f"obj-{i:03d}.png", image_bytes(10 + i, 8, "PNG"), "image/png")
    return bucket


class Project:
    """A config (catalog + one S3 integration) and manifests over the shared bucket."""

    def __init__(self, tmp_path: Path, bucket, catalog_url: str, endpoint: str, **jobs_cfg):
        self.dir, self.bucket, self.catalog_url = tmp_path, bucket, catalog_url
        jobs_yaml = "".join(f"  {k}: {v}\n" for k, v in jobs_cfg.items())
        self.config = tmp_path / "cfg.yaml"
        self.config.write_text(
            f"catalog: {catalog_url}\n"
            + (f"jobs:\n{jobs_yaml}" if jobs_yaml else "")
            + "integrations:\n"
            f"  - {{name: acme, provider: s3, bucket: {bucket.name}, endpoint_url: '{endpoint}',"
            " default: true, auth: {method: access_key, access_key_id: testing,"
            " secret_access_key: testing}, retry: {max_attempts: 1}}\n",
            encoding="utf-8",
        )

    def manifest(self, name: str, keys: range | list[int], missing: int = 0) -> Path:
        rows = [{"objectUrl": f"s3://{self.bucket.name}/obj-{i:03d}.png"} for i in keys]
        rows += [{"objectUrl": f"s3://{self.bucket.name}/gone-{i}.png"} for i in range(missing)]
        path = self.dir / f"{name}.json"
        path.write_text(json.dumps({"images": rows}), encoding="utf-8")
        return path

    def cli(self, name: str, *argv: str, start_at: float = 0.0) -> Child:
        return start_cli(["--config", str(self.config), *argv], self.dir, name, start_at=start_at)

    def catalog(self) -> Catalog:
        return Catalog(self.catalog_url)


def _folder_rows(catalog: Catalog, folder: str) -> list[tuple]:
    """What a reader sees of a folder, without ids and timestamps."""
    return sorted(
        (r.object_url, r.key, r.size, r.etag, r.media_kind, r.width, r.height,
         json.dumps(r.media_metadata, sort_keys=True))
        for r in catalog.iter_files(folder)
    )  # fmt: skip


def _live_jobs(catalog: Catalog) -> list[str]:
    with catalog.engine.connect() as conn:
        stmt = sa.select(jobs.c.id).where(jobs.c.status.in_(["PENDING", "RUNNING"]))
        return list(conn.scalars(stmt))


def _duplicate_rows(catalog: Catalog) -> int:
    with catalog.engine.connect() as conn:
        stmt = (
            sa.select(files.c.folder_id, files.c.object_url)
            .group_by(files.c.folder_id, files.c.object_url)
            .having(sa.func.count() > 1)
        )
        return len(conn.execute(stmt).all())


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_registrations_all_complete_exactly(tmp_path, images, catalog_url):
    """4 processes on SQLite, 16 on PostgreSQL, at the same instant: jobs into the same and
    different folders, strict and --ignore-errors, overlapping manifests."""
    sqlite = catalog_url.startswith("sqlite")
    per_folder, folders = (2, ["shared", "solo-a"]) if sqlite else (4, ["f0", "f1", "f2", "f3"])
    url = catalog_url
    project = Project(tmp_path, images, url, images.endpoint)
    start_at = time.time() + 1.0
    children: list[tuple[Child, str, bool]] = []
    step = (KEYS - 24) // max(1, per_folder - 1)
    for f, folder in enumerate(folders):
        for j in range(per_folder):
            strict = j % 2 == 0
            keys = range(j * step, j * step + 24)
            manifest = project.manifest(f"m-{f}-{j}", keys, missing=0 if strict else 1)
            argv = ["register", str(manifest), "--folder", folder, "--json", "--fetch", "head",
                    "--concurrency", "4", *([] if strict else ["--ignore-errors"])]  # fmt: skip
            children.append((project.cli(f"c-{f}-{j}", *argv, start_at=start_at), folder, strict))
    outcomes = [(child.wait(180), folder, strict) for child, folder, strict in children]
    for (code, out, err), folder, strict in outcomes:
        assert code == 0, err
        assert "Traceback" not in err and "error:" not in err, err
        job = json.loads(out)
        assert (job["status"], job["folder"]) == ("DONE", folder)
        assert job["registered"] == 24 and job["failed"] == (0 if strict else 1)
    catalog = project.catalog()
    try:
        expected = KEYS if per_folder == 4 else 24 + step
        assert {f: catalog.count_files(f) for f in folders} == dict.fromkeys(folders, expected)
        assert _duplicate_rows(catalog) == 0 and _live_jobs(catalog) == []
        assert catalog.staged_count() == 0
        assert {j.status for j in catalog.list_jobs(limit=100)} == {JobStatus.DONE}
    finally:
        catalog.dispose()


def test_a_catalog_locked_too_long_is_one_line_and_exit_1(tmp_path, images):
    """Another process holds the SQLite catalog's write lock past jobs.busy_timeout_s."""
    project = Project(
        tmp_path, images, f"sqlite:///{tmp_path / 'c.db'}", images.endpoint, busy_timeout_s=0.5
    )
    manifest = project.manifest("m", range(3))
    project.catalog().dispose()  # the catalog exists (schema at head)
    holder = Catalog(project.catalog_url)
    conn = holder.engine.connect()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        code, out, err = project.cli("busy", "register", str(manifest), "--folder", "lake").wait()
    finally:
        conn.rollback()
        conn.close()
        holder.dispose()
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: catalog busy: could not record a job in sqlite:///")
    assert "within 0.5 s (jobs.busy_timeout_s)" in line


# ----------------------------------------------------------------------------- SIGKILL


def test_sigkill_at_random_moments_then_rerun_converges(tmp_path, images, catalog_url):
    """A registration killed at 5 seeded random moments (strict and --ignore-errors, batches
    of 5): its job ends ABANDONED once its heartbeat is stale, no staged row survives, and
    running the command again gives exactly the folder of a run that was never killed."""
    project = Project(tmp_path, images, catalog_url, images.endpoint, stale_after_s=0.5)
    manifest = project.manifest("m", range(30))
    opts = {"max_images_per_batch": 5, "concurrency": 2}

    def register(folder: str, name: str, strict: bool) -> Child:
        return start_register(
            project.config, manifest, folder, tmp_path, name, ignore_errors=not strict, **opts
        )

    began = time.monotonic()
    assert register("reference", "ref", True).wait()[0] == 0
    duration = time.monotonic() - began
    catalog = project.catalog()
    try:
        reference = _folder_rows(catalog, "reference")
        assert len(reference) == 30
        rng = random.Random(20261203)
        abandoned = 0
        for trial in range(5):
            folder, strict = f"crash-{trial}", trial % 2 == 0
            child = register(folder, f"kill-{trial}", strict)
            time.sleep(rng.uniform(0.15, 0.9) * duration)
            child.process.kill()
            code = child.wait()[0]
            time.sleep(0.6)  # > stale_after_s: the killed job's heartbeat is stale now
            rerun = register(folder, f"rerun-{trial}", strict)
            assert rerun.wait()[0] == 0, rerun.err.read_text()
            killed = [j for j in catalog.list_jobs(limit=100) if j.owner == f"{HOST}:{child.pid}"]
            for job in killed:
                if code == -signal.SIGKILL and job.status is not JobStatus.DONE:
                    assert job.status is JobStatus.ABANDONED, job
                    assert "no heartbeat for" in (job.error or "")
                    abandoned += 1
            assert _folder_rows(catalog, folder) == reference
        assert abandoned >= 1  # the moments did land inside jobs
        assert _live_jobs(catalog) == [] and catalog.staged_count() == 0
        assert _duplicate_rows(catalog) == 0
    finally:
        catalog.dispose()


# ----------------------------------------------------------------------------- SIGTERM


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_fails_the_job_with_one_line(tmp_path, images, fault_proxy, sig):
    """The CLI mid-probe (a GET stalls): the job is recorded FAILED "terminated by SIGTERM",
    the folder it created is gone, the process exits 128+signal with one line on stderr."""
    proxy = fault_proxy(images.endpoint)
    proxy.stall_seconds = 2.5 if sig == signal.SIGTERM else 1.5
    proxy.fault = lambda method, path: "stall" if "obj-004" in path else None
    project = Project(tmp_path, images, f"sqlite:///{tmp_path / 'c.db'}", proxy.url)
    manifest = project.manifest("m", range(8))
    child = project.cli("cli", "register", str(manifest), "--folder", "lake", "--concurrency", "2")
    catalog = project.catalog()
    try:
        _wait_for(lambda: proxy.count(contains="obj-004") > 0)
        (running,) = _live_jobs(catalog)
        if sig == signal.SIGTERM:  # meanwhile `jobs` and `status` show who runs it, how alive
            code, out, _ = project.cli("jobs", "jobs", "--json").wait(30)
            (listed,) = json.loads(out)
            assert (listed["status"], listed["owner"]) == ("RUNNING", f"{HOST}:{child.pid}")
            assert 0 <= listed["heartbeat_age_s"] < 120 and listed["started_at"]
            code, out, _ = project.cli("status", "status", running).wait(30)
            assert "RUNNING" in out and f"owner {HOST}:{child.pid}" in out
            assert "heartbeat" in out and "s ago" in out
        _signal(child, sig)
        code, out, err = child.wait(30)
        (job,) = catalog.list_jobs()
        name = signal.Signals(sig).name
        assert code == 128 + sig
        assert err.splitlines() == [f"error: terminated by {name}: job {job.job_id} marked FAILED"]
        assert (job.status, job.error) == (JobStatus.FAILED, f"terminated by {name}")
        assert _live_jobs(catalog) == [] and catalog.list_folders() == []
    finally:
        catalog.dispose()


def _signal(child: Child, sig: int) -> None:
    os.kill(child.pid, sig)


def test_sigterm_discards_what_a_strict_job_staged(tmp_path, images, fault_proxy, catalog_url):
    """Batches of 5: SIGTERM once 4 batches are staged → FAILED, none published, none left
    staged, exit 143."""
    proxy = fault_proxy(images.endpoint)
    proxy.stall_seconds = 1.5
    proxy.fault = lambda method, path: "stall" if "obj-022" in path else None
    project = Project(tmp_path, images, catalog_url, proxy.url)
    manifest = project.manifest("m", range(30))
    child = start_register(
        project.config, manifest, "lake", tmp_path, "term", max_images_per_batch=5, concurrency=2
    )
    catalog = project.catalog()
    try:
        _wait_for(lambda: catalog.staged_count() >= 20)
        _signal(child, signal.SIGTERM)
        code, out, err = child.wait(30)
        (job,) = catalog.list_jobs()
        assert code == 143 and out.split() == ["interrupted", job.job_id, "terminated", "by",
                                               "SIGTERM"]  # fmt: skip
        assert "Traceback" not in err
        assert (job.status, job.error, job.registered) == (
            JobStatus.FAILED, "terminated by SIGTERM", 0
        )  # fmt: skip
        assert catalog.staged_count() == 0 and catalog.list_folders() == []
    finally:
        catalog.dispose()


def test_a_strict_job_holds_no_lock_while_it_probes(tmp_path, images, fault_proxy):
    """SQLite: while a strict job waits on the network (a stalled GET in its third batch, two
    batches staged), another process writes at once and readers see none of the job's rows;
    then the job publishes all 30 in one go."""
    proxy = fault_proxy(images.endpoint)
    proxy.stall_seconds = 3.0
    proxy.fault = lambda method, path: "stall" if "obj-012" in path else None
    project = Project(tmp_path, images, f"sqlite:///{tmp_path / 'c.db'}", proxy.url)
    manifest = project.manifest("m", range(30))
    child = start_register(
        project.config, manifest, "lake", tmp_path, "strict", max_images_per_batch=5, concurrency=1
    )
    other = Catalog(project.catalog_url, busy_timeout_s=0.5)
    try:
        _wait_for(lambda: proxy.count(contains="obj-012") > 0)
        assert other.staged_count() == 10 and other.count_files("lake") == 0
        began = time.monotonic()
        other.ensure_folder("meanwhile", "written while the job probes")  # no busy wait
        assert time.monotonic() - began < 0.5
        assert child.wait(30)[0] == 0
        assert other.count_files("lake") == 30 and other.staged_count() == 0
    finally:
        other.dispose()
