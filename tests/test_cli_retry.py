"""``retry JOB_ID`` through the installed CLI (a real subprocess), against moto."""

from __future__ import annotations

import json

import pytest

from tests.media import image_bytes
from tests.test_cli import SECRET, run


@pytest.fixture
def setup(tmp_path, s3_bucket):
    s3_bucket.put("data/a.png", image_bytes(30, 20, "PNG"), "image/png")
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
        f"s3://{s3_bucket.name}/data/a.png,first\n"
        f"s3://{s3_bucket.name}/data/late.png,late\n"
        ",no url\n",
        encoding="utf-8",
    )
    env = {"CLI_SECRET": SECRET}
    return str(config), manifest, s3_bucket, env


def test_retry_registers_what_now_exists(setup):
    cfg, manifest, bucket, env = setup
    reg = run(
        "--config",
        cfg,
        "register",
        str(manifest),
        "-f",
        "lake",
        "--ignore-errors",
        "--json",
        env=env,
    )
    assert reg.returncode == 0, reg.stderr
    job = json.loads(reg.stdout)
    codes = {e["row"]: (e["code"], e["transient"]) for e in job["unit_errors"]}
    assert codes == {3: ("not_found", False), 4: ("malformed_row", False)}
    shown = run("--config", cfg, "status", job["job_id"], env=env)
    assert f"s3://{bucket.name}/data/late.png: [not_found] " in shown.stdout
    manifest.unlink()  # the manifest is gone: the catalog keeps what a retry needs

    # still missing: it stays listed, nothing registered → exit 1; --strict makes it FAILED
    strict = run("--config", cfg, "retry", job["job_id"], "--strict", "--json", env=env)
    assert strict.returncode == 1 and json.loads(strict.stdout)["status"] == "FAILED"
    # without a flag the retry is as lenient as the original (--ignore-errors) job
    still = run("--config", cfg, "retry", job["job_id"], "--json", env=env)
    assert still.returncode == 1, still.stderr
    doc = json.loads(still.stdout)
    assert doc["retry_of"] == job["job_id"] and doc["job_id"] != job["job_id"]
    assert [(e["row"], e["code"]) for e in doc["unit_errors"]] == [(3, "not_found")]
    assert [(w["row"], w["code"]) for w in doc["warnings"]] == [(4, "malformed_row")]
    assert doc["skipped"] == 1 and doc["outcome"] == "nothing_registered"
    assert doc["status"] == "DONE"

    bucket.put("data/late.png", image_bytes(9, 7, "PNG"), "image/png")
    again = run("--config", cfg, "retry", job["job_id"], "--json", env=env)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["status"], doc["registered"], doc["failed"], doc["retry_of"]) == (
        "DONE",
        1,
        0,
        job["job_id"],
    )
    assert "1 failed unit(s) could not be retried" in again.stderr
    assert SECRET not in again.stdout + again.stderr
    files = json.loads(run("--config", cfg, "files", "lake", "--json", env=env).stdout)
    late = next(f for f in files if f["key"] == "data/late.png")
    assert (late["title"], late["width"]) == ("late", 9)

    listed = json.loads(run("--config", cfg, "jobs", "--json", env=env).stdout)
    assert listed[0]["retry_of"] == job["job_id"] and listed[-1]["retry_of"] is None
    human = run("--config", cfg, "status", doc["job_id"], env=env)
    assert f"retry of job {job['job_id']}" in human.stdout

    # the retry job had no failed units
    nothing = run("--config", cfg, "retry", doc["job_id"], env=env)
    assert nothing.returncode == 0
    assert "warning: nothing to retry" in nothing.stderr


def test_retry_of_an_unknown_job_is_one_line_and_exit_2(setup):
    cfg, _manifest, _bucket, env = setup
    proc = run("--config", cfg, "retry", "0" * 32, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: unknown job '{'0' * 32}'"]
