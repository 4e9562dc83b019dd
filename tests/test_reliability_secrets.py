"""Secret scan under failure: with storage faults injected (errors inside error bodies, cut
bodies, 5xx) on S3, Azure and direct URLs, and a secret pasted into the wrong config field, no
output holds a secret: CLI stdout/stderr of every command, Python logs, the Dagster event log
of a materialization, and the catalog (file bytes and a full SQL dump)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
from itertools import cycle
from urllib.parse import parse_qs, quote

from orchestration_pkg import build_definitions
from orchestration_pkg.assets.manifest_job import REGISTER_JOB, REGISTER_OP
from tests.media import image_bytes
from tests.test_cli import CLI

S3_SECRET = "REL-s3-Secret-7f3a9c-never-printed"
DIRECT_SIG = "feedfaceRELsignature0042"
FAULTS = cycle(["reset_error_body", "500", "truncate", "reset_body"])


def test_no_secret_in_any_output_under_faults(
    tmp_path, monkeypatch, caplog, s3_bucket, azure_container, http_files, fault_proxy
):
    caplog.set_level(logging.DEBUG)
    sas = azure_container.sas("rl")
    sas_sig = parse_qs(sas)["sig"][0]
    png = image_bytes(4, 4, "PNG")
    for name in ("ok.png", "flaky.png"):
        s3_bucket.put(f"in/{name}", png, "image/png")
        azure_container.put(f"in/{name}", png, "image/png")
        http_files.add(f"/p/{name}", png, "image/png", require_sig=DIRECT_SIG)
    proxies = {
        "s3": fault_proxy(s3_bucket.endpoint),
        "az": fault_proxy(azure_container.account_url),
        "cdn": fault_proxy(http_files.url("/")),
    }
    for proxy in proxies.values():
        proxy.fault = lambda method, path: next(FAULTS) if "flaky" in path else None
    account = azure_container.account_url.rsplit("/", 1)[1]
    az_base = f"{proxies['az'].url}/{account}"
    db = tmp_path / "catalog.db"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"catalog: sqlite:///{db}\n"
        "retry: {max_attempts: 2, backoff_seconds: 0.01}\n"
        "integrations:\n"
        f"  - {{name: s3, provider: s3, bucket: {s3_bucket.name}, endpoint_url: "
        f"'{proxies['s3'].url}', auth: {{method: access_key, access_key_id: testing, "
        "secret_access_key: '${REL_S3_SECRET}'}}\n"
        f"  - {{name: az, provider: azure, account_url: '{az_base}', "
        f"container: {azure_container.name}, auth: {{method: sas, sas_token: '${{REL_SAS}}'}}}}\n"
        "  - {name: cdn, provider: direct, allow_hosts: ['127.0.0.1']}\n",
        encoding="utf-8",
    )
    query = f"X-Amz-Expires=600&X-Amz-Signature={DIRECT_SIG}"
    manifests = {
        "s3": [f"s3://{s3_bucket.name}/in/{n}" for n in ("ok.png", "flaky.png")],
        "az": [f"{az_base}/{azure_container.name}/{quote('in/' + n)}" for n in ("ok.png",)]
        + [f"{az_base}/{azure_container.name}/in/flaky.png?{sas}"],
        "cdn": [f"{proxies['cdn'].url}/p/{n}?{query}" for n in ("ok.png", "flaky.png")],
    }
    monkeypatch.setenv("REL_S3_SECRET", S3_SECRET)  # Dagster runs in this process
    monkeypatch.setenv("REL_SAS", sas)
    env = dict(os.environ)
    outputs: dict[str, str] = {}

    def cli(label: str, *args: str, cfg: str = str(config)) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [CLI, "--config", cfg, *args], capture_output=True, text=True, env=env, timeout=120
        )
        outputs[f"cli {label}"] = proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    job_ids = []
    for name, urls in manifests.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"images": [{"objectUrl": u} for u in urls]}), "utf-8")
        proc = cli(
            f"register {name}",
            "register",
            str(path),
            "-f",
            name,
            "-i",
            name,
            "--json",
            "--ignore-errors",
        )
        doc = json.loads(proc.stdout)
        assert (doc["registered"], doc["failed"]) == (1, 1), (name, doc["unit_errors"])
        job_ids.append(doc["job_id"])
        cli(f"register {name} human", "register", str(path), "-f", f"{name}2", "-i", name)
        # the same through Dagster: the event log of a materialization
        run_config = {
            "ops": {
                REGISTER_OP: {
                    "config": {
                        "manifest": str(path),
                        "folder": f"dg-{name}",
                        "integration": name,
                        "ignore_errors": True,
                    }
                }
            }
        }
        job = build_definitions(config).resolve_job_def(REGISTER_JOB)
        result = job.execute_in_process(run_config=run_config)
        assert result.success
        outputs[f"dagster {name}"] = "\n".join(str(e) for e in result.all_events)
    for job_id in job_ids:
        cli(f"status {job_id}", "status", job_id, "--json")
    cli("jobs", "jobs", "--json")
    cli("folders", "folders")
    for name in manifests:
        cli(f"files {name}", "files", name, "--json")
    cli("config show", "config", "show", "--json")
    cli("integrations list", "integrations", "list")
    cli("integrations test az", "integrations", "test", "az", "in/flaky.png")
    # a secret pasted into the wrong field: the config error must not repeat it
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "integrations: [{name: s3, provider: s3, bucket: b, auth: {method: '${REL_S3_SECRET}'}}]\n"
    )
    assert cli("wrong config", "folders", cfg=str(wrong)).returncode == 2

    outputs["python logs"] = caplog.text
    outputs["catalog file"] = "".join(
        p.read_bytes().decode("latin-1") for p in tmp_path.glob("catalog.db*")
    )
    with sqlite3.connect(db) as conn:
        outputs["catalog dump"] = "\n".join(conn.iterdump())
    assert "flaky.png" in outputs["catalog dump"]  # the unit errors are there
    for needle in (
        S3_SECRET,
        sas_sig,
        quote(sas_sig, safe=""),
        DIRECT_SIG,
        "sig=",
        "X-Amz-Signature=",
    ):
        for where, text in outputs.items():
            assert needle not in text, f"{needle!r} found in {where}"
