"""``export`` against real storage: native export → register gives the same folder back
(moto, real media), and signed URLs fetch the objects (moto; Azurite checks the SAS)."""

from __future__ import annotations

import io
import json
import wave
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import AppConfig, load_config
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.export import ExportOptions, export_folder
from orchestration_pkg.core.registration import build_storage, register_manifest
from tests.cli_run import run_cli
from tests.export_shapes import check_label_studio, check_labelbox
from tests.media import blank_pdf_bytes, image_bytes, video_bytes

VOLATILE = {"id", "created_at", "updated_at", "removed_at"}


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 4000)
    return buf.getvalue()


def _s3_config(tmp_path: Path, s3_bucket: Any) -> Path:
    """A YAML config: a SQLite catalog in ``tmp_path`` and one S3 integration 'acme'."""
    config_path = tmp_path / "cfg.yaml"
    config_path.write_text(
        f"catalog: sqlite:///{tmp_path / 'cat.db'}\n"
        "integrations:\n"
        f"  - {{name: acme, bucket: {s3_bucket.name}, endpoint_url: '{s3_bucket.endpoint}',"
        " auth: {method: access_key, access_key_id: testing, secret_access_key: testing}}\n",
        encoding="utf-8",
    )
    return config_path


def _rows(catalog: Catalog, folder: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in asdict(r).items() if k not in VOLATILE}
        for r in catalog.iter_files(folder)
    ]


def test_native_export_registers_back_to_the_same_folder(s3_bucket: Any, tmp_path: Path) -> None:
    objects = {
        "media/photo 1.png": image_bytes(40, 30, "PNG"),
        "media/rot+6.jpg": image_bytes(30, 20, "JPEG", orientation=6),
        "media/clip é.mp4": video_bytes(48, 32, frames=6, fps=6),
        "media/doc.pdf": blank_pdf_bytes(2),
        "media/notes.txt": b"hello\nworld\n",
        "media/tone.wav": _wav(),
        "media/data.bin": b"\x00\x01binary",
    }
    for key, body in objects.items():
        s3_bucket.put(key, body)
    config_path = _s3_config(tmp_path, s3_bucket)
    manifest = tmp_path / "m.json"
    rows = [{"url": f"s3://{s3_bucket.name}/{k}"} for k in objects]
    rows[0].update(title="first", external_id="cam-1", client_metadata={"camera": {"id": 1}})
    rows[2].update(title="a clip")
    manifest.write_text(json.dumps(rows), encoding="utf-8")
    original = register_manifest(load_config(config_path), str(manifest), "lake")
    assert original.registered == len(objects), original.unit_errors

    exported = tmp_path / "lake.native.json"
    done = run_cli(config_path, "export", "lake", "--format", "native", "-o", str(exported),
                   timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = run_cli(config_path, "register", str(exported), "--folder", "copy", "--json",
                    timeout=180)  # fmt: skip
    assert again.returncode == 0, again.stderr
    job = json.loads(again.stdout)
    assert job["registered"] == len(objects) and job["failed"] == 0
    assert job["bytes_read"] < original.bytes_read  # media facts came from the export
    catalog = Catalog(load_config(config_path).catalog)
    try:
        copy, lake = _rows(catalog, "copy"), _rows(catalog, "lake")
    finally:
        catalog.dispose()
    assert [r["key"] for r in copy] == sorted(objects, key=str.encode)
    assert copy == lake
    assert {r["media_kind"] for r in lake} == {"image", "video", "pdf", "text", "audio", "other"}


def test_signed_export_urls_fetch_the_objects(s3_bucket: Any, tmp_path: Path) -> None:
    objects = {"in/a b.txt": b"one", "in/c+d é.txt": b"two"}
    for key, body in objects.items():
        s3_bucket.put(key, body)
    config_path = _s3_config(tmp_path, s3_bucket)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{"url": f"s3://{s3_bucket.name}/{k}"} for k in objects]))
    assert register_manifest(load_config(config_path), str(manifest), "lake").registered == 2
    out = tmp_path / "rows.ndjson"
    done = run_cli(config_path, "export", "lake", "--format", "labelbox", "--urls", "signed",
                   "--ttl", "60", "-o", str(out), timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    warning, summary = done.stderr.strip().splitlines()
    assert warning == (
        "warning: --ttl 60 is below the minimum (signed URLs live 900…86400 s); using 900 s"
    )
    assert summary.startswith("exported 2 of 2 rows of folder 'lake' as labelbox (signed URLs)")
    for row in check_labelbox(out.read_text(encoding="utf-8")):
        assert parse_qs(urlsplit(row["row_data"]).query)["X-Amz-Expires"] == ["900"]
        assert httpx.get(row["row_data"], timeout=10).content == objects[row["global_key"]]


def test_signed_export_on_azure_is_a_valid_sas(
    azure_container: Any, azure_config_factory: Any, tmp_path: Path
) -> None:
    objects = {"scans/a b.png": b"first", "scans/ü+1.png": b"second"}
    for key, body in objects.items():
        azure_container.put(key, body, "image/png")
    integration = azure_config_factory()
    config = AppConfig(catalog=f"sqlite:///{tmp_path / 'cat.db'}", integrations=[integration])
    storage = build_storage(integration)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{"url": storage.canonical_url(k)} for k in objects]))
    catalog = Catalog(config.catalog)
    try:
        head = RegistrationOptions(fetch="head")
        result = register_manifest(
            config, str(manifest), "lake", options=head, catalog=catalog, storage=storage
        )
        assert result.registered == 2
        out = io.StringIO()
        options = ExportOptions(format="label-studio", urls="signed", ttl=900)
        export_folder(config, catalog, "lake", options, out)
    finally:
        catalog.dispose()
    tasks = check_label_studio(out.getvalue())
    for task in tasks:
        signed = task["data"]["image"]
        assert httpx.get(signed, timeout=10).content == objects[task["data"]["key"]]
        assert httpx.get(signed.replace("sig=", "sig=A"), timeout=10).status_code == 403
