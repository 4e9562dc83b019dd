"""The CLI through its installed entry point (a real subprocess), against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.media import image_bytes

CLI = str(Path(sys.executable).parent / "orchestration-pkg")
SECRET = "cli-S3cret-value-77"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", **(env or {})}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=full_env, timeout=120, check=False
    )


@pytest.fixture
def project(tmp_path, s3_bucket):
    s3_bucket.put("data/a b.png", image_bytes(30, 20, "PNG"), "image/png")
    s3_bucket.put("data/ü.jpg", image_bytes(8, 6, "JPEG"), "image/jpeg")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'cat.db'}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {s3_bucket.name}, prefix: data/,"
        f" endpoint_url: '{s3_bucket.endpoint}', default: true, auth: {{method: access_key,"
        " access_key_id: testing, secret_access_key: '${CLI_SECRET}'}}\n",
        encoding="utf-8",
    )
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "url,title\n"
        f"s3://{s3_bucket.name}/data/a b.png,first\n"
        f"s3://{s3_bucket.name}/data/ü.jpg,second\n"
        f"s3://{s3_bucket.name}/data/nope.png,third\n",
        encoding="utf-8",
    )
    return {
        "config": str(config),
        "manifest": str(manifest),
        "bucket": s3_bucket,
        "env": {"CLI_SECRET": SECRET},
    }


def test_register_json_status_folders_files_presign(project):
    cfg, env = project["config"], project["env"]
    proc = run(
        "--config",
        cfg,
        "register",
        project["manifest"],
        "--folder",
        "f1",
        "--ignore-errors",
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "DONE" and doc["registered"] == 2 and doc["failed"] == 1
    assert doc["unit_errors"][0]["url"].endswith("nope.png")
    assert set(doc["unit_errors"][0]) >= {"url", "error"}

    status = json.loads(run("--config", cfg, "status", doc["job_id"], "--json", env=env).stdout)
    assert status["job_id"] == doc["job_id"] and status["failed"] == 1

    folders = json.loads(run("--config", cfg, "folders", "--json", env=env).stdout)
    assert [(f["name"], f["file_count"]) for f in folders] == [("f1", 2)]

    files = json.loads(run("--config", cfg, "files", "f1", "--json", env=env).stdout)
    assert sorted(f["key"] for f in files) == ["data/a b.png", "data/ü.jpg"]
    assert {f["title"] for f in files} == {"first", "second"}

    url = run("--config", cfg, "presign", "f1", "data/a b.png", "--ttl", "60", env=env)
    assert url.returncode == 0
    assert "X-Amz-Expires=900" in url.stdout and "a%20b.png" in url.stdout
    for p in (proc, url):
        assert SECRET not in p.stdout + p.stderr


def test_failed_job_exits_nonzero_and_human_output(project):
    proc = run(
        "--config",
        project["config"],
        "register",
        project["manifest"],
        "--folder",
        "f2",
        env=project["env"],
    )
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "nope.png" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["register", "missing.json", "--folder", "x"], "does not exist"),
        (["register", "M", "--folder", "x", "--integration", "zzz"], "unknown integration"),
        (["files", "no-such-folder"], "unknown folder"),
        (["status", "0123"], "unknown job"),
    ],
)
def test_user_errors_are_one_line(project, args, message):
    args = [a.replace("M", project["manifest"]) if a == "M" else a for a in args]
    proc = run("--config", project["config"], *args, env=project["env"])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_bad_config_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "integrations:\n  - {name: x, provider: s3, bucket: b,"
        " auth: {method: access_key, access_key_id: '${NOPE_UNSET}',"
        " secret_access_key: y}}\n",
        encoding="utf-8",
    )
    proc = run("--config", str(bad), "folders")
    assert proc.returncode == 2 and "NOPE_UNSET is not set" in proc.stderr
    bad.write_text(
        "integrations: [{name: x, provider: s3, bucket: b, auth: {method: assume_role,"
        " role_arn: 'arn:aws:iam::123456789012:role/r'}}]\n",
        encoding="utf-8",
    )
    proc = run("--config", str(bad), "folders")
    assert proc.returncode == 2 and "external_id" in proc.stderr


def test_integrations_list_policy_and_test(project):
    cfg, env, bucket = project["config"], project["env"], project["bucket"]
    listed = json.loads(run("--config", cfg, "integrations", "list", "--json", env=env).stdout)
    assert listed == [
        {
            "name": "acme",
            "provider": "s3",
            "location": f"s3://{bucket.name}/data/",
            "auth": "access_key",
            "default": True,
            "manifests_prefix": None,
            "manifests_location": None,
        }
    ]
    proc = run(
        "--config",
        cfg,
        "integrations",
        "policy",
        "acme",
        "--origin",
        "https://label.example.org",
        env=env,
    )
    guide = json.loads(proc.stdout)
    statements = guide["iam_policy"]["Statement"]
    list_stmt = next(s for s in statements if "s3:ListBucket" in json.dumps(s["Action"]))
    assert "data/*" in json.dumps(list_stmt["Condition"])
    assert any(
        f"arn:aws:s3:::{bucket.name}/data/*" in json.dumps(s["Resource"]) for s in statements
    )
    assert "https://label.example.org" in json.dumps(guide["cors"])
    assert SECRET not in proc.stdout

    ok = run("--config", cfg, "integrations", "test", "acme", "data/a b.png", "--json", env=env)
    rows = json.loads(ok.stdout)
    assert ok.returncode == 0, rows
    assert {r["permission"] for r in rows} >= {"s3:ListBucket", "sign (local)"}
    bad = run("--config", cfg, "integrations", "test", "acme", "data/none.png", "--json", env=env)
    assert bad.returncode == 1
    failed = [r for r in json.loads(bad.stdout) if not r["ok"]]
    assert failed and all(r["fix"] for r in failed)
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("error: 2 check(s) failed (s3:GetObject (HeadObject), s3:GetObject")


def test_integrations_commands_for_azure_gcs_and_direct(
    tmp_path, azure_container, gcs_bucket, http_files
):
    azure_container.put("x/a.png", image_bytes(2, 2, "PNG"), "image/png")
    http_files.add("/f.png", image_bytes(2, 2, "PNG"), "image/png")
    sas_read_only = azure_container.sas("r")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'c.db'}\n"
        "integrations:\n"
        f"  - {{name: az, provider: azure, account_url: '{azure_container.account_url}',"
        f" container: {azure_container.name}, prefix: x/, auth: {{method: sas,"
        " sas_token: '${AZ_SAS}'}, cors_origins: ['https://tool.example']}\n"
        f"  - {{name: lab, provider: gcs, bucket: {gcs_bucket.name}, prefix: p/,"
        f" endpoint_url: '{gcs_bucket.endpoint}', auth: {{method: anonymous}}}}\n"
        "  - {name: cdn, provider: direct, allow_hosts: ['127.0.0.1']}\n",
        encoding="utf-8",
    )
    env = {"AZ_SAS": sas_read_only}
    cfg = str(config)
    listed = json.loads(run("--config", cfg, "integrations", "list", "--json", env=env).stdout)
    assert [(i["name"], i["provider"], i["auth"]) for i in listed] == [
        ("az", "azure", "sas"),
        ("lab", "gcs", "anonymous"),
        ("cdn", "direct", "pre-signed / unsigned URLs"),
    ]
    az_policy = json.loads(run("--config", cfg, "integrations", "policy", "az", env=env).stdout)
    assert "Storage Blob Data Reader" in json.dumps(az_policy["rbac"])
    assert "https://tool.example" in json.dumps(az_policy["cors"])
    gcs_policy = run("--config", cfg, "integrations", "policy", "lab", "--no-cors", env=env)
    assert "roles/storage.objectViewer" in gcs_policy.stdout
    az_test = run("--config", cfg, "integrations", "test", "az", env=env)
    assert az_test.returncode == 1
    assert "List" in az_test.stdout
    assert parse_qs(sas_read_only)["sig"][0] not in az_test.stdout + az_test.stderr
    cdn_test = run(
        "--config", cfg, "integrations", "test", "cdn", http_files.url("/f.png"), "--json", env=env
    )
    assert cdn_test.returncode == 0, cdn_test.stdout


def test_config_policies_and_quotas_apply_and_files_json_has_metadata(tmp_path, s3_bucket):
    s3_bucket.put("p/up.jpg", image_bytes(40, 30, "JPEG", orientation=1), "image/jpeg")
    s3_bucket.put("p/rot.jpg", image_bytes(40, 30, "JPEG", orientation=6), "image/jpeg")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'c.db'}\n"
        "integrations:\n"
        f"  - name: acme\n    provider: s3\n    bucket: {s3_bucket.name}\n"
        f"    endpoint_url: '{s3_bucket.endpoint}'\n"
        "    auth: {method: access_key, access_key_id: testing, secret_access_key: testing}\n"
        "    requirements: {image: {allowed_orientations: [1]}}\n"
        "folders:\n  tiny: {quotas: {max_images_per_folder: 0}}\n",
        encoding="utf-8",
    )
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f"url\ns3://{s3_bucket.name}/p/up.jpg\ns3://{s3_bucket.name}/p/rot.jpg\n", "utf-8"
    )
    cfg = str(config)
    doc = json.loads(
        run(
            "--config",
            cfg,
            "register",
            str(manifest),
            "--folder",
            "ok",
            "--ignore-errors",
            "--json",
        ).stdout
    )
    assert doc["registered"] == 1 and "image.allowed_orientations" in doc["unit_errors"][0]["error"]
    files = json.loads(run("--config", cfg, "files", "ok", "--json").stdout)
    meta = files[0]["media_metadata"]
    assert (meta["width"], meta["height"], meta["format"], meta["orientation"]) == (
        40,
        30,
        "jpeg",
        1,
    )
    over = run(
        "--config", cfg, "register", str(manifest), "--folder", "tiny", "--ignore-errors", "--json"
    )
    assert over.returncode == 1
    assert "max_images_per_folder=0 exceeded by 1" in json.loads(over.stdout)["error"]
