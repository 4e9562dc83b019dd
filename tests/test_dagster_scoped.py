"""Two sets of definitions in one code location: two CatalogFoldersComponents (default and
``media`` key prefix, separate catalogs, the same integration and folder names) loaded by
Dagster's component loader, and two ``build_definitions`` merged with ``Definitions.merge``.
Names are today's for the default prefix and scoped (``media__…``) otherwise."""

from __future__ import annotations

import json

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, Definitions
from dagster.components.testing import create_defs_folder_sandbox

from orchestration_pkg import build_definitions
from orchestration_pkg.assets.manifest_job import manifest_run_config
from orchestration_pkg.assets.naming import DEFAULT_NAMES, DefinitionNames, scope_of
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.errors import NotFoundError
from tests.media import image_bytes

TYPE = "orchestration_pkg.components.CatalogFoldersComponent"
MEDIA = DefinitionNames("media")


@pytest.fixture
def bucket(tmp_path, s3_bucket):
    """Three images and a manifest of the first two."""
    for i in range(3):
        s3_bucket.put(f"raw/s{i}.png", image_bytes(6, 4 + i, "PNG"), "image/png")
    manifest = tmp_path / "photos.json"
    manifest.write_text(
        json.dumps([{"url": f"s3://{s3_bucket.name}/raw/s{i}.png"} for i in (0, 1)])
    )
    return s3_bucket, manifest


def _attributes(db, s3_bucket, manifest) -> dict:
    """The same integration ``acme`` (watched, with manifests) and folder ``photos``."""
    acme = {
        "name": "acme",
        "provider": "s3",
        "bucket": s3_bucket.name,
        "region": "us-east-1",
        "endpoint_url": s3_bucket.endpoint,
        "auth": {"method": "access_key", "access_key_id": "testing", "secret_access_key": "x"},
        "watch": {"folder": "lake", "prefix": "raw/"},
        "manifests": {"prefix": "incoming/"},
    }
    return {
        "catalog": f"sqlite:///{db}",
        "integrations": [acme],
        "folders": {"photos": {"manifest": str(manifest)}},
    }


def _materialize(defs, key: AssetKey) -> bool:
    job = defs.resolve_implicit_job_def_def_for_assets([key])
    with DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, asset_selection=[key]).success


def test_names_are_todays_for_the_default_prefix_and_scoped_otherwise():
    assert (DEFAULT_NAMES.register_job, DEFAULT_NAMES.resource_key) == (
        "register_manifest_job",
        "platform",
    )
    assert DEFAULT_NAMES.health_key == AssetKey("integration_health")
    assert MEDIA.register_job == "media__register_manifest_job"
    assert (MEDIA.resource_key, MEDIA.batches("a-b")) == ("media__platform", "media__a_b_batches")
    assert MEDIA.health_key == AssetKey(["media", "integration_health"])
    # a prefix Dagster names cannot carry: its letters plus a digest, never another's scope
    assert scope_of("my-co").startswith("my_co_") and scope_of("my-co") != scope_of("my.co")


def test_two_components_with_different_key_prefixes_load_side_by_side(tmp_path, bucket):
    s3_bucket, manifest = bucket
    dbs = {"default": tmp_path / "a.db", "media": tmp_path / "b.db"}
    with create_defs_folder_sandbox() as sandbox:
        for name, db in dbs.items():
            attributes = _attributes(db, s3_bucket, manifest)
            if name == "media":
                attributes["key_prefix"] = "media"
            (sandbox.defs_folder_path / name).mkdir()
            body = yaml.safe_dump({"type": TYPE, "attributes": attributes})
            (sandbox.defs_folder_path / name / "defs.yaml").write_text(body)
        with sandbox.build_all_defs() as defs:
            Definitions.validate_loadable(defs)
            jobs = {j.name for j in defs.resolve_all_job_defs()}
            for names in (DEFAULT_NAMES, MEDIA):
                assert {
                    names.register_job,
                    names.retry_job,
                    names.watch_job("acme"),
                    names.sync_job("acme"),
                } <= jobs
                for sensor in (
                    names.manifest_sensor("acme"),
                    names.watch_sensor("acme"),
                    names.retry_sensor,
                    names.sweep_sensor,
                ):
                    assert defs.resolve_sensor_def(sensor)
                assert defs.resolve_schedule_def(names.sync_schedule("acme"))
                assert names.resource_key in defs.resources
            keys = set(defs.resolve_all_asset_keys())
            assert {AssetKey("integration_health"), MEDIA.health_key} <= keys
            graph = defs.resolve_asset_graph()
            lake = graph.get(AssetKey(["media", "folder", "lake"]))
            assert lake.partitions_def.name == MEDIA.batches("acme")
            assert _materialize(defs, AssetKey(["orchestration_pkg", "folder", "photos"]))
            assert _materialize(defs, AssetKey(["media", "folder", "photos"]))
    for db in dbs.values():  # each component registered into its own catalog
        catalog = Catalog(f"sqlite:///{db}")
        assert {f.key for f in catalog.iter_files("photos")} == {"raw/s0.png", "raw/s1.png"}
        catalog.dispose()


def test_two_build_definitions_merge_and_run_into_their_own_catalogs(tmp_path, bucket):
    s3_bucket, manifest = bucket
    configs = {}
    for name in ("a", "b"):
        configs[name] = tmp_path / f"{name}.yaml"
        body = _attributes(tmp_path / f"{name}.db", s3_bucket, manifest)
        configs[name].write_text(yaml.safe_dump(body), encoding="utf-8")
    defs = Definitions.merge(
        build_definitions(configs["a"]), build_definitions(configs["b"], key_prefix="media")
    )
    Definitions.validate_loadable(defs)
    second = f"s3://{s3_bucket.name}/raw/s2.png"
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"url": second}]))
    with DagsterInstance.ephemeral() as instance:
        for names in (DEFAULT_NAMES, MEDIA):
            run_config = manifest_run_config(str(other), "adhoc", op_name=names.register_op)
            job = defs.resolve_job_def(names.register_job)
            assert job.execute_in_process(run_config=run_config, instance=instance).success
        assert _materialize(defs, AssetKey(["media", "folder", "photos"]))
    a = Catalog(f"sqlite:///{tmp_path / 'a.db'}")
    b = Catalog(f"sqlite:///{tmp_path / 'b.db'}")
    assert [f.key for f in a.iter_files("adhoc")] == [f.key for f in b.iter_files("adhoc")]
    assert b.count_files("photos") == 2
    with pytest.raises(NotFoundError):  # materialized under media: only its catalog has it
        a.count_files("photos")
    a.dispose()
    b.dispose()
