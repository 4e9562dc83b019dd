"""Dagster layer: assets with materialize(), the manifest sensor, and loadable Definitions."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from orchestration_pkg.assets import REGISTRATION_ASSETS
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.definitions import REGISTER_JOB, build_definitions
from orchestration_pkg.resources.platform import PlatformResource
from tests.media import image_bytes

SECRET = "s3cr3t-Do-Not-Leak-42"


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
        "    manifests: {prefix: manifests/, max_keys_per_tick: 2}\n",
        encoding="utf-8",
    )
    return tmp_path, s3_bucket, config


def _manifest(bucket, rows: int, missing: bool = False) -> str:
    items = [{"objectUrl": f"s3://{bucket.name}/raw/img {i}.png"} for i in range(rows)]
    if missing:
        items.append({"objectUrl": f"s3://{bucket.name}/raw/gone.png"})
    return json.dumps({"images": items})


def _run_config(manifest: str, **extra) -> dict:
    return {"ops": {"manifest": {"config": {"manifest": manifest, "folder": "lake", **extra}}}}


def test_assets_materialize_with_metadata_and_check(setup):
    tmp_path, bucket, config = setup
    path = tmp_path / "m.json"
    path.write_text(_manifest(bucket, 3, missing=True), encoding="utf-8")
    result = materialize(
        REGISTRATION_ASSETS,
        resources={"platform": PlatformResource(config_path=str(config))},
        run_config=_run_config(str(path), ignore_errors=True),
        raise_on_error=False,
    )
    assert result.success
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    manifest_md = mats["manifest"].materialization.metadata
    assert manifest_md["rows"].value == 4
    results_md = mats["upload_results"].materialization.metadata
    assert results_md["registered"].value == 3
    assert results_md["failed"].value == 1
    assert results_md["bytes_read"].value > 0
    table = results_md["failed_urls"].value
    assert "gone.png" in table.records[0].data["url"]
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("no_unit_errors", False)]
    assert Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").count_files("lake") == 3
    # no secret in any event the run wrote
    events = json.dumps([str(e) for e in result.all_events])
    assert SECRET not in events


def test_a_failed_registration_fails_the_run_with_the_job_and_its_errors(setup):
    tmp_path, bucket, config = setup
    path = tmp_path / "m.json"
    path.write_text(_manifest(bucket, 2, missing=True), encoding="utf-8")
    result = materialize(
        REGISTRATION_ASSETS,
        resources={"platform": PlatformResource(config_path=str(config))},
        run_config=_run_config(str(path)),  # strict: one missing object fails the job
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "registered_folder"
    info = failure.event_specific_data.error_display_string
    job = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").list_jobs()[0]
    assert job.status.value == "FAILED" and job.job_id in info and "gone.png" in info
    assert SECRET not in json.dumps([str(e) for e in result.all_events])


def test_check_passes_on_clean_run(setup):
    tmp_path, bucket, config = setup
    path = tmp_path / "m.json"
    path.write_text(_manifest(bucket, 2), encoding="utf-8")
    result = materialize(
        REGISTRATION_ASSETS,
        resources={"platform": PlatformResource(config_path=str(config))},
        run_config=_run_config(str(path)),
    )
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]


def test_manifest_in_bucket_is_read_streaming(setup):
    tmp_path, bucket, config = setup
    bucket.put("manifests/batch.json", _manifest(bucket, 3).encode())
    result = materialize(
        REGISTRATION_ASSETS,
        resources={"platform": PlatformResource(config_path=str(config))},
        run_config=_run_config(f"s3://{bucket.name}/manifests/batch.json"),
    )
    assert result.success


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
    cfg = req.run_config["ops"]["manifest"]["config"]
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
    from dagster import Definitions

    Definitions.validate_loadable(defs)


def test_integration_health_asset_shows_checks_and_policies(setup):
    from orchestration_pkg.assets import integration_health

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
    from orchestration_pkg.assets import integration_health

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
