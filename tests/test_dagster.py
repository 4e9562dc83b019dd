"""Dagster layer: register_manifest_job, folder assets (metadata, checks, failures), the
manifest sensor, integration_health, and loadable Definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    materialize,
    validate_run_config,
)

from orchestration_pkg import build_definitions
from orchestration_pkg.assets import integration_health
from orchestration_pkg.assets.manifest_job import REGISTER_JOB, REGISTER_OP, manifest_run_config
from orchestration_pkg.assets.translator import key_part
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.resources.platform import PlatformResource
from tests.media import image_bytes

SECRET = "s3cr3t-Do-Not-Leak-42"
LAKE = AssetKey(["orchestration_pkg", "folder", "lake"])


@pytest.fixture
def setup(tmp_path, s3_bucket, monkeypatch):
    """A config file pointing at the moto bucket, a SQLite catalog, and three images."""
    for i in range(3):
        s3_bucket.put(f"raw/img {i}.png", image_bytes(10 + i, 20, "PNG"), "image/png")
    monkeypatch.setenv("TEST_SECRET_KEY", SECRET)
    config = tmp_path / "orchestration_pkg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        "  - name: acme\n"
        "    provider: s3\n"
        f"    bucket: {s3_bucket.name}\n"
        "    region: us-east-1\n"
        f"    endpoint_url: {s3_bucket.endpoint}\n"
        "    auth: {method: access_key, access_key_id: testing,"
        " secret_access_key: '${TEST_SECRET_KEY}'}\n"
        "    manifests: {prefix: manifests/, max_keys_per_tick: 2}\n"
        "folders:\n"
        "  lake: {check: {severity: warn}}\n",
        encoding="utf-8",
    )
    return tmp_path, s3_bucket, config


def _manifest(bucket, rows: int, missing: bool = False) -> str:
    items = [{"objectUrl": f"s3://{bucket.name}/raw/img {i}.png"} for i in range(rows)]
    if missing:
        items.append({"objectUrl": f"s3://{bucket.name}/raw/gone.png"})
    return json.dumps({"images": items})


def _register(config, manifest: str, folder: str = "lake", **extra):
    job = build_definitions(config).resolve_job_def(REGISTER_JOB)
    return job.execute_in_process(
        run_config=manifest_run_config(manifest, folder, **extra), raise_on_error=False
    )


def test_manifest_run_reports_on_the_folder_asset(setup):
    tmp_path, bucket, config = setup
    path = tmp_path / "m.json"
    path.write_text(_manifest(bucket, 3, missing=True), encoding="utf-8")
    result = _register(config, str(path), ignore_errors=True)
    assert result.success  # ignore_errors: the run succeeds, the check fails
    (mat,) = result.get_asset_materialization_events()
    assert mat.asset_key == LAKE
    md = mat.materialization.metadata
    assert (md["registered"].value, md["failed"].value, md["rows"].value) == (3, 1, 4)
    assert isinstance(md["bytes_read"].value, int) and md["bytes_read"].value > 0
    assert isinstance(md["seconds"].value, float) and md["dagster/row_count"].value == 3
    preview = [r.data for r in md["preview"].value.records]
    assert [r["key"] for r in preview] == [f"raw/img {i}.png" for i in range(3)]
    assert [r["dimensions"] for r in preview] == ["10×20", "11×20", "12×20"]
    assert preview[0]["kind"] == "image" and preview[0]["size"] > 0
    (error,) = md["unit_errors"].value.records
    assert error.data["code"] == "not_found" and "gone.png" in error.data["url"]
    assert "3 registered" in md["summary"].value
    (check,) = result.get_asset_check_evaluations()
    assert (check.asset_key, check.check_name, check.passed) == (LAKE, "no_unit_errors", False)
    assert check.severity is AssetCheckSeverity.WARN  # folders.lake.check.severity
    assert Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").count_files("lake") == 3
    assert SECRET not in json.dumps([str(e) for e in result.all_events])


def test_an_adhoc_folder_gets_its_materialization_without_a_check(setup):
    tmp_path, bucket, config = setup
    path = tmp_path / "m.json"
    path.write_text(_manifest(bucket, 2), encoding="utf-8")
    result = _register(config, str(path), folder="scratch 1")
    (mat,) = result.get_asset_materialization_events()
    assert mat.asset_key == AssetKey(["orchestration_pkg", "folder", key_part("scratch 1")])
    assert result.get_asset_check_evaluations() == []


def test_a_failed_registration_fails_the_run_with_the_job_and_its_errors(setup):
    tmp_path, bucket, config = setup
    path = tmp_path / "m.json"
    path.write_text(_manifest(bucket, 2, missing=True), encoding="utf-8")
    result = _register(config, str(path))  # strict: one missing object fails the job
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    info = failure.event_specific_data.error_display_string
    job = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").list_jobs()[0]
    assert job.status.value == "FAILED" and job.job_id in info and "gone.png" in info
    user_failure = failure.event_specific_data.user_failure_data
    assert user_failure.metadata["job_id"].value == job.job_id
    (first,) = user_failure.metadata["first_errors"].value.records
    assert "gone.png" in first.data["url"]
    assert result.get_asset_materialization_events() == []
    assert SECRET not in json.dumps([str(e) for e in result.all_events])


def test_the_launchpad_default_validates_and_fails_with_what_to_set(setup):
    _, _, config = setup
    job = build_definitions(config).resolve_job_def(REGISTER_JOB)
    validate_run_config(job, {})  # no "Missing required config entry"
    result = job.execute_in_process(raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.event_specific_data.error.message
    assert f"ops.{REGISTER_OP}.config.manifest" in text and "folder" in text


def test_manifest_in_bucket_is_read_streaming(setup):
    tmp_path, bucket, config = setup
    bucket.put("manifests/batch.json", _manifest(bucket, 3).encode())
    result = _register(config, f"s3://{bucket.name}/manifests/batch.json")
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


def test_sensor_requests_new_and_changed_manifests_once(setup):
    tmp_path, bucket, config = setup
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def("manifest_sensor_acme")
    platform = PlatformResource(config_path=str(config))
    for name in ("a.json", "b.csv", "c.json"):
        bucket.put(f"manifests/{name}", _manifest(bucket, 1).encode())
    bucket.put("manifests/notes.txt", b"ignored")

    def tick(cursor):
        with (
            DagsterInstance.ephemeral() as instance,
            build_sensor_context(
                instance=instance, cursor=cursor, resources={"platform": platform}
            ) as ctx,
        ):
            res = sensor(ctx)
            return res.run_requests or [], res.cursor

    seen, cursor = [], None
    for _ in range(4):  # max_keys_per_tick=2: progress comes from the cursor
        requests, cursor = tick(cursor)
        seen += [r.tags["orchestration_pkg/manifest"] for r in requests]
    assert sorted(seen) == ["manifests/a.json", "manifests/b.csv", "manifests/c.json"]
    req = tick(None)[0][0]
    cfg = req.run_config["ops"][REGISTER_OP]["config"]
    assert cfg["folder"] == "a" and cfg["manifest"] == f"s3://{bucket.name}/manifests/a.json"
    # unchanged manifests are never requested again; a re-upload with new content is
    for _ in range(3):
        requests, cursor = tick(cursor)
        assert requests == []
    bucket.put("manifests/b.csv", _manifest(bucket, 2).encode())
    changed = []
    for _ in range(3):
        requests, cursor = tick(cursor)
        changed += [r.tags["orchestration_pkg/manifest"] for r in requests]
    assert changed == ["manifests/b.csv"]


def test_definitions_load(setup):
    _, _, config = setup
    defs = build_definitions(config)
    assert defs.resolve_job_def(REGISTER_JOB)
    assert defs.resolve_sensor_def("manifest_sensor_acme")
    Definitions.validate_loadable(defs)


def test_integration_health_asset_shows_checks_and_policies(setup):
    _, bucket, config = setup
    result = materialize(
        [integration_health], resources={"platform": PlatformResource(config_path=str(config))}
    )
    md = result.get_asset_materialization_events()[0].materialization.metadata
    assert md["failed_checks"].value == 0
    perms = {r.data["permission"] for r in md["checks"].value.records}
    assert {"s3:ListBucket", "s3:GetObject (HeadObject)"} <= perms
    guide = md["setup_acme"].value
    assert f"arn:aws:s3:::{bucket.name}" in json.dumps(guide["iam_policy"])
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
    assert SECRET not in json.dumps([str(e) for e in result.all_events])
    # No cors_origins configured: a note, never a made-up origin in rules to paste.
    assert isinstance(guide["cors"], str) and "cors_origins" in guide["cors"]
    assert "example.com" not in json.dumps(guide) and "invalid" not in json.dumps(guide)


def test_integration_health_counts_checks_that_could_not_run_as_skipped(tmp_path, s3_bucket):
    config = tmp_path / "empty.yaml"  # an empty bucket: HEAD / ranged GET have nothing to probe
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        f"  - {{name: empty, provider: s3, bucket: {s3_bucket.name}, region: us-east-1,"
        f" endpoint_url: '{s3_bucket.endpoint}', cors_origins: ['https://label.example.org'],"
        " auth: {method: access_key, access_key_id: testing, secret_access_key: testing}}\n",
        encoding="utf-8",
    )
    result = materialize(
        [integration_health], resources={"platform": PlatformResource(config_path=str(config))}
    )
    md = result.get_asset_materialization_events()[0].materialization.metadata
    results = {r.data["permission"]: r.data["result"] for r in md["checks"].value.records}
    assert results["s3:GetObject (HeadObject)"] == "skipped"
    assert results["s3:ListBucket"] == "pass"
    assert (md["failed_checks"].value, md["skipped_checks"].value) == (0, 2)
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
    rules = md["setup_empty"].value["cors"]
    assert rules["CORSRules"][0]["AllowedOrigins"] == ["https://label.example.org"]


def test_the_readme_run_config_is_valid_for_the_job(setup):
    _, _, config = setup
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\nops:\n", 1)[1].split("```", 1)[0]
    run_config = yaml.safe_load("ops:\n" + block)
    job = build_definitions(config).resolve_job_def(REGISTER_JOB)
    validated = validate_run_config(job, run_config)
    assert validated["ops"][REGISTER_OP]["config"]["folder"] == "lake"
