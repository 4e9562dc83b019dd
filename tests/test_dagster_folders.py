"""One asset per declared folder: keys, groups, kinds, upstream bucket, checks (severity,
blocking), "Materialize all" without run config, and the translator's overrides."""

from __future__ import annotations

import json

import pytest
from dagster import (
    AssetKey,
    AutomationCondition,
    DagsterInstance,
    Definitions,
)

from orchestration_pkg import CatalogTranslator, build_definitions
from orchestration_pkg.assets.translator import key_part, op_name_for
from orchestration_pkg.core.catalog import Catalog
from tests.media import image_bytes


def _key(*parts: str) -> AssetKey:
    return AssetKey(["orchestration_pkg", *parts])


@pytest.fixture
def setup(tmp_path, s3_bucket):
    """``photos`` has a manifest, ``my lake`` has none, ``lake`` is watched."""
    for i in range(2):
        s3_bucket.put(f"raw/p{i}.png", image_bytes(8, 6 + i, "PNG"), "image/png")
    manifest = tmp_path / "photos.json"
    items = [{"objectUrl": f"s3://{s3_bucket.name}/raw/p{i}.png"} for i in range(2)]
    manifest.write_text(json.dumps({"images": items}), encoding="utf-8")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {s3_bucket.name}, region: us-east-1,"
        f" endpoint_url: '{s3_bucket.endpoint}', auth: {{method: access_key,"
        " access_key_id: testing, secret_access_key: testing},"
        " watch: {folder: lake, prefix: raw/}}\n"
        "folders:\n"
        f"  photos: {{manifest: '{manifest}', description: Street photos,"
        " check: {severity: warn}}\n"
        "  my lake: {check: {blocking: true}}\n",
        encoding="utf-8",
    )
    return config, Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")


def test_every_declared_folder_is_an_asset_with_its_integration_upstream(setup):
    config, _ = setup
    defs = build_definitions(config)
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    bucket = _key("bucket", "acme")
    assert key_part("my lake").startswith("my_lake_") and key_part("lake-2.b") == "lake-2.b"
    for name in ("photos", key_part("my lake"), "lake"):
        node = graph.get(_key("folder", name))
        assert node.group_name == "acme" and node.kinds == {"s3"}
        assert node.tags["orchestration_pkg/provider"] == "s3"
        assert node.parent_keys == {bucket}
    assert graph.get(_key("folder", "lake")).is_partitioned
    assert not graph.get(_key("folder", "photos")).is_partitioned
    assert "Street photos" in graph.get(_key("folder", "photos")).description
    specs = {
        s.asset_key: s for a in defs.assets if hasattr(a, "check_specs") for s in a.check_specs
    }
    assert specs[_key("folder", key_part("my lake"))].blocking
    assert not specs[_key("folder", "photos")].blocking
    prefixed = build_definitions(config, key_prefix="acme_co").resolve_asset_graph()
    assert AssetKey(["acme_co", "folder", "photos"]) in prefixed.get_all_asset_keys()
    with pytest.raises(ValueError, match="key_prefix"):
        build_definitions(config, key_prefix="x", translator=CatalogTranslator())


def test_materialize_all_without_run_config_registers_or_says_what_is_missing(setup):
    config, catalog = setup
    defs = build_definitions(config)
    unpartitioned = [
        k
        for k in defs.resolve_all_asset_keys()
        if not defs.resolve_asset_graph().get(k).is_partitioned
    ]
    job = defs.resolve_implicit_job_def_def_for_assets(unpartitioned)
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, asset_selection=unpartitioned, raise_on_error=False
        )
    events = [str(e) for e in result.all_events]
    assert not any("Missing required config" in e for e in events)
    done = {m.asset_key for m in result.get_asset_materialization_events()}
    assert {_key("folder", "photos"), AssetKey("integration_health")} <= done
    assert catalog.count_files("photos") == 2
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == op_name_for(_key("folder", key_part("my lake")))
    message = failure.event_specific_data.error.message
    assert "folder 'my lake' has no manifest" in message and "folders.my lake.manifest" in message
    (check,) = [c for c in result.get_asset_check_evaluations() if c.asset_key.path[-1] == "photos"]
    assert check.passed


def test_a_run_config_manifest_overrides_the_declared_one(setup, tmp_path, s3_bucket):
    config, catalog = setup
    other = tmp_path / "one.json"
    other.write_text(json.dumps([{"url": f"s3://{s3_bucket.name}/raw/p1.png"}]), "utf-8")
    defs = build_definitions(config)
    key = _key("folder", "photos")
    job = defs.resolve_implicit_job_def_def_for_assets([key])
    op = op_name_for(key)

    def run(config):
        return job.execute_in_process(
            run_config={"ops": {op: {"config": config}}},
            asset_selection=[key],
            raise_on_error=False,
        )

    result = run({"manifest": str(other), "fetch": "head"})
    md = result.get_asset_materialization_events()[0].materialization.metadata
    assert md["registered"].value == 1 and catalog.count_files("photos") == 1
    bad = run({"fetch": "everything"})
    failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE")
    assert "fetch must be auto, head or none" in failure.event_specific_data.error.message


def test_a_watched_partition_without_keys_says_where_batches_come_from(setup):
    config, _ = setup
    defs = build_definitions(config)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("acme_batches", ["by-hand"])
        result = defs.resolve_job_def("watch_job_acme").execute_in_process(
            partition_key="by-hand", instance=instance, raise_on_error=False
        )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "watch_sensor_acme" in failure.event_specific_data.error.message


class _Owned(CatalogTranslator):
    def get_owners(self, folder):
        return ["team:media"]

    def get_automation_condition(self, folder):
        return AutomationCondition.on_missing() if folder.watch is None else None

    def get_asset_spec(self, folder):
        spec = super().get_asset_spec(folder)
        return spec.merge_attributes(tags={"tier": "gold"})


def test_translator_overrides_owners_conditions_and_the_whole_spec(setup):
    config, _ = setup
    defs = build_definitions(config, translator=_Owned())
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    photos, lake = graph.get(_key("folder", "photos")), graph.get(_key("folder", "lake"))
    assert photos.owners == ["team:media"] and photos.tags["tier"] == "gold"
    assert photos.automation_condition is not None and lake.automation_condition is None
