"""CatalogFoldersComponent: real defs.yaml files loaded through Dagster's component loader,
``{{ env.VAR }}`` secrets, credentials from dagster-aws's S3ResourceComponent, the scaffolder,
and ``dg list components`` on the package as pip installs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance
from dagster.components.testing import create_defs_folder_sandbox

from orchestration_pkg.components import CatalogFoldersComponent
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.errors import ConfigError
from tests.media import image_bytes

TYPE = "orchestration_pkg.components.CatalogFoldersComponent"
ROOT = Path(__file__).resolve().parents[1]
SECRET = "component-Secret-0451"


@pytest.fixture
def bucket(tmp_path, s3_bucket, monkeypatch):
    """Two images and a manifest of them; the moto credentials in the environment."""
    for i in range(2):
        s3_bucket.put(f"raw/c{i}.png", image_bytes(7, 5 + i, "PNG"), "image/png")
    manifest = tmp_path / "photos.json"
    items = [{"url": f"s3://{s3_bucket.name}/raw/c{i}.png"} for i in range(2)]
    manifest.write_text(json.dumps(items), encoding="utf-8")
    monkeypatch.setenv("T_COMPONENT_KEY_ID", "testing")
    monkeypatch.setenv("T_COMPONENT_SECRET", SECRET)
    return s3_bucket, manifest


def _attributes(tmp_path, s3_bucket, manifest, **integration) -> dict:
    acme = {
        "name": "acme",
        "provider": "s3",
        "bucket": s3_bucket.name,
        "watch": {"folder": "lake", "prefix": "raw/"},
        **integration,
    }
    return {
        "catalog": f"sqlite:///{tmp_path / 'catalog.db'}",
        "integrations": [acme],
        "folders": {"photos": {"manifest": str(manifest), "check": {"severity": "warn"}}},
    }


def _materialize(defs, key: AssetKey) -> bool:
    job = defs.resolve_implicit_job_def_def_for_assets([key])
    with DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, asset_selection=[key]).success


def test_a_defs_yaml_with_env_secrets_loads_and_materializes(tmp_path, bucket):
    s3_bucket, manifest = bucket
    auth = {
        "method": "access_key",
        "access_key_id": "{{ env.T_COMPONENT_KEY_ID }}",
        "secret_access_key": "{{ env.T_COMPONENT_SECRET }}",
    }
    attributes = _attributes(
        tmp_path, s3_bucket, manifest, region="us-east-1", endpoint_url=s3_bucket.endpoint
    )
    attributes["integrations"][0]["auth"] = auth
    attributes["key_prefix"] = "media"
    attributes["translation"] = {
        "group_name": "media_{{ integration }}",
        "owners": ["team:media"],
        "tags": {"folder": "{{ folder }}"},
    }
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.defs_folder_path / "catalog"
        path.mkdir()
        (path / "defs.yaml").write_text(yaml.safe_dump({"type": TYPE, "attributes": attributes}))
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, CatalogFoldersComponent)
            app = component.app_config()
            secret = app.integrations[0].auth.secret_access_key.get_secret_value()
            assert secret == SECRET  # resolved from {{ env.T_COMPONENT_SECRET }}
            graph = defs.resolve_asset_graph()
            photos = graph.get(AssetKey(["media", "folder", "photos"]))
            assert photos.group_name == "media_acme" and photos.owners == ["team:media"]
            assert photos.tags["folder"] == "photos"
            assert graph.get(AssetKey(["media", "folder", "lake"])).is_partitioned
            assert AssetKey(["media", "bucket", "acme"]) in photos.parent_keys
            assert defs.resolve_sensor_def("media__watch_sensor_acme")  # scoped by key_prefix
            assert _materialize(defs, AssetKey(["media", "folder", "photos"]))
            resources = json.dumps(str(defs.resources))
            assert SECRET not in resources  # the config is closed over, not resource config
    assert Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").count_files("photos") == 2


def test_credentials_from_a_dagster_aws_s3_resource_component(tmp_path, bucket):
    s3_bucket, manifest = bucket
    aws = {
        "type": "dagster_aws.components.S3ResourceComponent",
        "attributes": {
            "credentials": {
                "region_name": "us-east-1",
                "endpoint_url": s3_bucket.endpoint,
                "aws_access_key_id": "{{ env.T_COMPONENT_KEY_ID }}",
                "aws_secret_access_key": "{{ env.T_COMPONENT_SECRET }}",
            }
        },
    }
    attributes = _attributes(tmp_path, s3_bucket, manifest)
    attributes["credentials_from"] = {"acme": "aws"}
    with create_defs_folder_sandbox() as sandbox:
        for name, body in {"aws": aws, "catalog": {"type": TYPE, "attributes": attributes}}.items():
            (sandbox.defs_folder_path / name).mkdir()
            (sandbox.defs_folder_path / name / "defs.yaml").write_text(yaml.safe_dump(body))
        with sandbox.build_all_defs() as defs:
            assert _materialize(defs, AssetKey(["orchestration_pkg", "folder", "photos"]))
        # the integration may not also carry its own credentials
        attributes["integrations"][0]["auth"] = {"method": "default"}
        body = yaml.safe_dump({"type": TYPE, "attributes": attributes})
        (sandbox.defs_folder_path / "catalog" / "defs.yaml").write_text(body)
        with pytest.raises(Exception) as info, sandbox.build_all_defs():
            pass
        chain = [info.value, *_causes(info.value)]
        assert any(isinstance(e, ConfigError) and "credentials_from" in str(e) for e in chain)
    assert Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").count_files("photos") == 2


def _causes(exc: BaseException) -> list[BaseException]:
    out = []
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__
        out.append(exc)
    return out


def test_the_scaffolded_defs_yaml_loads_as_written():
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=CatalogFoldersComponent)
        text = (path / "defs.yaml").read_text()
        assert text.startswith("type: orchestration_pkg.components.")
        assert "{{ env.AWS_SECRET_ACCESS_KEY }}" in text  # in a comment
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            keys = defs.resolve_all_asset_keys()
            assert AssetKey(["orchestration_pkg", "folder", "lake"]) in keys


def test_dg_lists_the_component_of_the_installed_package(tmp_path):
    """pip installs the package as a user would (its entry points come from pyproject.toml),
    then ``dg list components`` runs on that copy only."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "orchestration_pkg",
        src / "orchestration_pkg",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site)]
    done = subprocess.run([*pip, str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (dist,) = site.glob("orchestration_pkg-*.dist-info")
    extras = {
        line.split(":", 1)[1].strip()
        for line in (dist / "METADATA").read_text().splitlines()
        if line.startswith("Provides-Extra:")
    }
    assert {"s3", "gcs", "azure", "all"} <= extras
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "PYTHONPATH": str(site), "DAGSTER_HOME": str(home)}
    dg = Path(sys.executable).with_name("dg")
    listed = subprocess.run(
        [str(dg), "list", "components", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    items = {i["key"]: i for i in json.loads(listed.stdout)["items"]}
    assert TYPE in items and "without copying" in items[TYPE]["summary"]
