"""No secret anywhere: logs, Dagster events, the catalog file and error messages are grepped
for the SAS signature, the secret keys and pre-signed query signatures."""

from __future__ import annotations

import json
import logging
import sqlite3
from urllib.parse import parse_qs, quote

from dagster import materialize

from orchestration_pkg import build_definitions
from orchestration_pkg.assets import integration_health
from orchestration_pkg.assets.manifest_job import REGISTER_JOB, manifest_run_config
from orchestration_pkg.resources.platform import PlatformResource
from tests.media import image_bytes

S3_SECRET = "s3-Secret-Access-Key-Never-Shown-0042"
DIRECT_SIG = "cafef00dPRESIGNEDsignature77"


def _sas_sig(token: str) -> str:
    return parse_qs(token)["sig"][0]


def test_no_secret_leaks_anywhere(
    tmp_path, monkeypatch, caplog, s3_bucket, azure_container, http_files
):
    caplog.set_level(logging.DEBUG)
    sas = azure_container.sas("rl")
    monkeypatch.setenv("T_S3_SECRET", S3_SECRET)
    monkeypatch.setenv("T_SAS", sas)
    s3_bucket.put("in/ok.png", image_bytes(4, 4, "PNG"), "image/png")
    azure_container.put("in/ok.png", image_bytes(6, 2, "PNG"), "image/png")
    http_files.add("/p/ok.png", image_bytes(3, 3, "PNG"), "image/png", require_sig=DIRECT_SIG)
    db = tmp_path / "catalog.db"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"catalog: sqlite:///{db}\n"
        "integrations:\n"
        f"  - {{name: s3i, provider: s3, bucket: {s3_bucket.name}, endpoint_url: "
        f"'{s3_bucket.endpoint}', auth: {{method: access_key, access_key_id: testing, "
        "secret_access_key: '${T_S3_SECRET}'}}\n"
        f"  - {{name: az, provider: azure, account_url: '{azure_container.account_url}', "
        f"container: {azure_container.name}, auth: {{method: sas, sas_token: '${{T_SAS}}'}}}}\n"
        "  - {name: cdn, provider: direct, allow_hosts: ['127.0.0.1']}\n",
        encoding="utf-8",
    )
    query = f"X-Amz-Expires=600&X-Amz-Signature={DIRECT_SIG}"
    az_url = f"{azure_container.account_url}/{azure_container.name}/{quote('in/ok.png')}"
    manifests = {
        "s3i": [f"s3://{s3_bucket.name}/in/ok.png", f"s3://{s3_bucket.name}/in/missing.png"],
        "az": [az_url, az_url.replace("ok.png", "missing.png") + "?" + sas],
        "cdn": [http_files.url("/p/ok.png", query), http_files.url("/p/missing.png", query)],
    }
    events = []
    platform = PlatformResource(config_path=str(config))
    job = build_definitions(config).resolve_job_def(REGISTER_JOB)
    for name, urls in manifests.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"images": [{"objectUrl": u} for u in urls]}), "utf-8")
        run_config = manifest_run_config(str(path), name, integration=name, ignore_errors=True)
        result = job.execute_in_process(run_config=run_config)
        assert result.success
        events += [str(e) for e in result.all_events]
        md = [m.materialization.metadata for m in result.get_asset_materialization_events()]
        assert md[-1]["registered"].value == 1 and md[-1]["failed"].value == 1
        assert len(md[-1]["unit_errors"].value.records) == 1
    health = materialize([integration_health], resources={"platform": platform})
    events += [str(e) for e in health.all_events]

    haystacks = {
        "logs": caplog.text,
        "dagster events": "\n".join(events),
        "catalog file": "".join(
            p.read_bytes().decode("latin-1") for p in tmp_path.glob("catalog.db*")
        ),
    }
    with sqlite3.connect(db) as conn:
        haystacks["catalog rows"] = json.dumps(
            [
                list(r)
                for t in ("op_files", "op_jobs", "op_unit_errors")
                for r in conn.execute(f"select * from {t}")
            ],
            default=str,
        )
    assert "missing.png" in haystacks["catalog rows"]  # the unit errors are really there
    for needle in (S3_SECRET, _sas_sig(sas), DIRECT_SIG, "X-Amz-Signature", "sig="):
        for where, text in haystacks.items():
            assert needle not in text, f"{needle!r} found in {where}"
