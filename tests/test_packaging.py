"""Packaging: per-cloud extras, lazy imports (checked with an import hook in a fresh
interpreter: nothing is uninstalled), and a cheap ``import orchestration_pkg``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.media import image_bytes

ROOT = Path(__file__).resolve().parents[1]
OTHER_CLOUDS = (
    "azure",
    "google.cloud",
    "google.auth",
    "google.oauth2",
    "google.api_core",
    "google.resumable_media",
    "dagster_gcp",
    "dagster_azure",
)
BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


def _python(code: str, *, blocked=(), env=None, timeout=120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (this worktree first on the path) with ``blocked``
    modules made uninstallable by an import hook."""
    script = textwrap.dedent(BLOCKER.format(blocked=tuple(blocked))) + textwrap.dedent(code)
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )


def test_importing_the_package_loads_neither_dagster_nor_a_config(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("integrations: [{name: x, provider: nope}]\n", encoding="utf-8")
    done = _python(
        """
        import json, sys
        import orchestration_pkg
        first = sorted(m for m in sys.modules if m.split(".")[0] in ("dagster", "yaml"))
        factory = orchestration_pkg.build_definitions
        print(json.dumps({"first": first, "defs": "orchestration_pkg.definitions" in sys.modules,
                          "factory": factory.__module__}))
        """,
        env={"ORCHESTRATION_PKG_CONFIG": str(broken)},  # loading it would raise
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == {"first": [], "defs": False, "factory": "orchestration_pkg.factory"}


def test_an_s3_only_config_never_imports_another_cloud(tmp_path, s3_bucket):
    s3_bucket.put("raw/a.png", image_bytes(4, 3, "PNG"), "image/png")
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{"url": f"s3://{s3_bucket.name}/raw/a.png"}]), "utf-8")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {s3_bucket.name}, region: us-east-1,"
        f" endpoint_url: '{s3_bucket.endpoint}', auth: {{method: access_key,"
        " access_key_id: testing, secret_access_key: testing},"
        " watch: {folder: lake, prefix: raw/}}\n"
        f"folders: {{photos: {{manifest: '{manifest}'}}}}\n",
        encoding="utf-8",
    )
    done = _python(
        f"""
        import json, sys
        from dagster import AssetKey, Definitions, DagsterInstance
        from orchestration_pkg import build_definitions
        defs = build_definitions({str(config)!r})
        Definitions.validate_loadable(defs)
        key = AssetKey(["orchestration_pkg", "folder", "photos"])
        with DagsterInstance.ephemeral() as instance:
            job = defs.resolve_implicit_job_def_def_for_assets([key])
            ok = job.execute_in_process(instance=instance, asset_selection=[key]).success
        from orchestration_pkg.cli import main
        sys.argv = ["orchestration-pkg", "--config", {str(config)!r}, "register",
                    {str(manifest)!r}, "--folder", "cli", "--json"]
        try:
            main()
        except SystemExit as exit:
            cli = exit.code
        loaded = sorted(m for m in sys.modules if m.startswith({OTHER_CLOUDS!r}))
        boto3 = "boto3" in sys.modules
        print(json.dumps({{"ok": ok, "cli": cli, "loaded": loaded, "boto3": boto3}}))
        """,
        blocked=OTHER_CLOUDS,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"ok": True, "cli": 0, "loaded": [], "boto3": True}


def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "integrations:\n"
        "  - {name: hospital, provider: azure, account_url: 'http://127.0.0.1:9/acct',"
        " container: scans, auth: {method: sas, sas_token: 'sv=1&sig=x'}}\n",
        encoding="utf-8",
    )
    done = _python(
        """
        import sys
        from orchestration_pkg.cli import main
        sys.argv = ["orchestration-pkg", "integrations", "test", "hospital"]
        main()
        """,
        blocked=("azure", "dagster_azure"),
        env={"ORCHESTRATION_PKG_CONFIG": str(config)},
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "pip install 'orchestration_pkg[azure]'" in line and "Traceback" not in done.stderr


def test_core_dependencies_hold_no_cloud_sdk_and_test_installs_all():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    clouds = {
        "s3": ("boto", "dagster-aws"),
        "gcs": ("google", "dagster-gcp"),
        "azure": ("azure", "dagster-azure"),
    }
    every_sdk = tuple(p for prefixes in clouds.values() for p in prefixes)
    assert not [d for d in project["dependencies"] if d.lower().startswith(every_sdk)]
    extras = project["optional-dependencies"]
    for extra, own in clouds.items():
        sdks = [d for d in extras[extra] if d.startswith(every_sdk)]
        assert len(sdks) >= 2 and all(d.startswith(own) for d in sdks), extra
    assert extras["all"] == ["orchestration_pkg[s3,gcs,azure]"]
    assert any(d.startswith("orchestration_pkg[all") for d in extras["test"])
