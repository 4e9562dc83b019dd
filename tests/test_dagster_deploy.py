"""deploy/dagster.yaml, run for real: PostgreSQL storage, the QueuedRunCoordinator's limit per
integration, dagster-daemon + dagster-webserver on 127.0.0.1, a watch sensor burst of 12 batch
runs (fixtures in tests/fixtures/dagster_deploy.py). One module, so the servers stop when it ends.
The UI is checked on ``dagster dev`` instead (tests/test_dagster_ui.py)."""

from __future__ import annotations

import pytest
import yaml
from dagster import DagsterRunStatus

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.definitions import build_definitions
from orchestration_pkg.sensors.watch_sensor import chunk
from tests.fixtures.dagster_deploy import (
    BATCH_SIZE,
    DEPLOY_YAML,
    FOLDER,
    INTEGRATION_TAG,
    OBJECTS,
    tag_limit,
)

pytestmark = pytest.mark.timeout(600)  # servers + a burst of runs: see BURST_TIMEOUT


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end before a start at the same instant)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def test_max_overlap():
    assert max_overlap([(0, 2), (1, 3), (2, 4)]) == 2
    assert max_overlap([(0, 5), (1, 2), (1, 3), (6, 7)]) == 3


def test_helm_values_carry_the_tested_instance_settings():
    """deploy/helm-values.yaml says what deploy/dagster.yaml (the tested file) says."""
    instance = yaml.safe_load(DEPLOY_YAML.read_text(encoding="utf-8"))
    helm = yaml.safe_load((DEPLOY_YAML.parent / "helm-values.yaml").read_text(encoding="utf-8"))
    queued = helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    tested = instance["run_coordinator"]["config"]
    assert queued["tagConcurrencyLimits"] == tested["tag_concurrency_limits"]
    assert queued["tagConcurrencyLimits"][0]["key"] == INTEGRATION_TAG
    assert (queued["dequeueUseThreads"], queued["dequeueIntervalSeconds"]) == (
        tested["dequeue_use_threads"],
        tested["dequeue_interval_seconds"],
    )
    scheme = instance["storage"]["postgres"]["postgres_db"]["scheme"]
    assert helm["postgresql"]["postgresqlScheme"] == scheme == "postgresql+psycopg2"
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"


def test_jobs_against_one_integration_carry_its_tag(tmp_path, s3_bucket):
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'c.db'}\n"
        f"integrations: [{{name: acme, provider: s3, bucket: {s3_bucket.name},"
        " auth: {method: default}, watch: {folder: lake}}]\n",
        encoding="utf-8",
    )
    defs = build_definitions(config)
    for name in ("watch_job_acme", "watch_sync_job_acme"):  # UI launches and the schedule
        assert defs.resolve_job_def(name).tags[INTEGRATION_TAG] == "acme"


def test_batch_size_cuts_the_batches():
    objects = [ObjectInfo(key=f"k{i:02}.png", etag="e", size=1) for i in range(10)]
    assert [len(b.objects) for b in chunk(objects, 3)] == [3, 3, 3, 1]
    assert [len(b.objects) for b in chunk(objects, 5000)] == [10]  # never above the engine's


def test_a_sensor_burst_runs_at_most_the_limit_per_integration(dagster_deployment, watch_burst):
    limit, runs = tag_limit(), watch_burst.runs
    deployment = yaml.safe_load(DEPLOY_YAML.read_text(encoding="utf-8"))
    # below max_concurrent_runs: the per-integration limit is what binds here
    assert limit < deployment["run_coordinator"]["config"]["max_concurrent_runs"]
    detail = dagster_deployment.log_tails()
    assert len(runs) == OBJECTS // BATCH_SIZE >= 12, detail
    assert {r.dagster_run.status for r in runs} == {DagsterRunStatus.SUCCESS}, detail
    assert all(r.dagster_run.tags[INTEGRATION_TAG] == "acme" for r in runs)
    assert len({r.dagster_run.tags["dagster/partition"] for r in runs}) == len(runs)
    # the burst was queued, and the limit was reached but never exceeded
    assert watch_burst.max_queued >= limit
    assert watch_burst.max_in_progress == limit
    intervals = [(r.start_time, r.end_time) for r in runs]
    assert all(start and end and start <= end for start, end in intervals)
    assert max_overlap(intervals) <= limit
    # the catalog (a database on the same server) holds every object exactly once
    catalog = Catalog(dagster_deployment.catalog_url)
    try:
        keys = [f.key for f in catalog.iter_files(FOLDER)]
        assert keys == sorted(dagster_deployment.keys)
        jobs = catalog.list_jobs(FOLDER, limit=100)
        assert {j.status.value for j in jobs} == {"DONE"}
        assert len([j for j in jobs if j.created]) == len(runs)
        assert sum(j.created for j in jobs) == OBJECTS and sum(j.updated for j in jobs) == 0
    finally:
        catalog.dispose()
