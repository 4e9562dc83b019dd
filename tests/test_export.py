"""``export``: every format against its published shape, filters, byte order on SQLite and
PostgreSQL, flat memory, and the CLI's errors and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from orchestration_pkg.core.catalog import Catalog, FileRecord
from orchestration_pkg.core.catalog.schema import files
from orchestration_pkg.core.catalog.sync_queries import mark_removed
from orchestration_pkg.core.config import parse_config
from orchestration_pkg.core.export import ExportOptions, RowFilter, export_folder, rows
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import RowError
from tests.export_shapes import CHECKS

CLI = str(Path(sys.executable).parent / "orchestration-pkg")
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
CONFIG = {
    "integrations": [
        {"name": "acme", "bucket": "bkt", "region": "eu-central-1",
         "auth": {"method": "access_key", "access_key_id": "a", "secret_access_key": "b"}},
        {"name": "az", "provider": "azure", "account_url": "https://acct.blob.core.windows.net",
         "container": "c", "auth": {"method": "account_key", "account_key": "a2V5"}},
        {"name": "lab", "provider": "gcs", "bucket": "lab-data", "auth": {"method": "anonymous"}},
    ]
}  # fmt: skip

IMAGE_META = {"kind": "image", "mime_type": "image/jpeg", "file_size": 10, "width": 4,
              "height": 3, "orientation": 6, "format": "JPEG"}  # fmt: skip
VIDEO_META = {"kind": "video", "mime_type": "video/mp4", "file_size": 99, "width": 64,
              "height": 48, "fps": 25.0, "duration": 2.0, "frame_count": 50}  # fmt: skip
AUDIO_META = {"kind": "audio", "mime_type": "audio/wav", "file_size": 50, "duration": 1.5,
              "sample_rate": 8000, "bit_depth": 16, "codec": "pcm_s16le",
              "num_channels": 1}  # fmt: skip


def _record(
    key: str, kind: str | None, meta: dict[str, Any] | None = None, **extra: Any
) -> FileRecord:
    integration = extra.pop("integration", "acme")
    url = {
        "acme": f"s3://bkt/{key}",
        "az": f"https://acct.blob.core.windows.net/c/{key.replace(' ', '%20')}",
        "lab": f"gs://lab-data/{key}",
    }[integration]
    meta = meta or {}
    return FileRecord(
        object_url=url,
        key=key,
        integration=integration,
        media_kind=kind,
        size=meta.get("file_size", 5),
        content_type=meta.get("mime_type"),
        width=meta.get("width"),
        height=meta.get("height"),
        media_metadata=meta,
        **extra,
    )


RECORDS = [
    _record("raw/a b+c.jpg", "image", IMAGE_META, title="first", external_id="ext-1",
            client_metadata={"camera": "c1", "n": 3, "ok": True, "tags": ["x", "y"]}),
    _record("raw/no-dims.png", "image", {"mime_type": "image/png", "file_size": 7}),
    _record("raw/clip é.mp4", "video", VIDEO_META, title="clip"),
    _record("raw/tone.wav", "audio", AUDIO_META),
    _record("raw/doc.pdf", "pdf", {"kind": "pdf", "file_size": 30, "page_count": 2,
                                   "mime_type": "application/pdf"}),
    _record("raw/notes.txt", "text", {"kind": "text", "file_size": 12, "mime_type": "text/plain"}),
    _record("raw/blob.bin", "other"),
    _record("scans/x y.png", "image", {**IMAGE_META, "orientation": 1}, integration="az"),
    _record("zz/lab.txt", "text", {"kind": "text"}, integration="lab"),
    _record("raw/gone.jpg", "image", IMAGE_META),
]  # fmt: skip


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Any, Catalog]:
    config = parse_config({**CONFIG, "catalog": f"sqlite:///{tmp_path / 'cat.db'}"})
    catalog = Catalog(config.catalog)
    folder = catalog.ensure_folder("lake")
    with catalog.writer(folder.id) as writer:
        writer.upsert(RECORDS)
        writer.commit()
    mark_removed(catalog, [catalog.find_file("lake", "raw/gone.jpg").id])
    yield config, catalog
    catalog.dispose()


def _export(config: Any, catalog: Catalog, fmt: str, **options: Any) -> tuple[str, Any]:
    out = io.StringIO()
    result = export_folder(config, catalog, "lake", ExportOptions(format=fmt, **options), out)
    return out.getvalue(), result


@pytest.mark.parametrize("fmt", sorted(CHECKS))
def test_each_format_matches_its_published_shape(lake: Any, fmt: str, tmp_path: Path) -> None:
    config, catalog = lake
    text, result = _export(config, catalog, fmt)
    doc = CHECKS[fmt](text)
    assert result.matched == len(RECORDS) - 1  # the removed row is never exported
    assert "gone" not in text
    if fmt in ("encord", "labelbox", "ango"):  # shapes our own register reads: a cross-check
        path = tmp_path / ("m.jsonl" if fmt == "labelbox" else "m.json")
        path.write_text(text, encoding="utf-8")
        with read_manifest(path) as manifest:
            read = list(manifest)
        assert not [r for r in read if isinstance(r, RowError)]
        assert len(read) == result.written
    if fmt == "encord":
        first, no_dims = doc["images"][0], doc["images"][1]
        assert first["objectUrl"] == "https://bkt.s3.eu-central-1.amazonaws.com/raw/a%20b%2Bc.jpg"
        assert first["imageMetadata"] == {"mimeType": "image/jpeg", "fileSize": 10, "width": 4,
                                          "height": 3}  # fmt: skip
        assert "imageMetadata" not in no_dims
        assert doc["videos"][0]["videoMetadata"]["fps"] == 25.0
        assert doc["audio"][0]["audioMetadata"]["numChannels"] == 1
        assert doc["pdf"][0]["pdfMetadata"] == {"fileSize": 30, "numPages": 2}
        assert doc["text"][0]["textMetadata"] == {"fileSize": 12, "mimeType": "text/plain"}
        assert (
            doc["images"][2]["objectUrl"] == "https://acct.blob.core.windows.net/c/scans/x%20y.png"
        )
        assert doc["skip_duplicate_urls"] is True
        assert result.skipped == {"other files have no Encord list": 1}
        assert result.notes == {
            "without a complete imageMetadata": 1,
            "without a complete textMetadata": 1,
        }
        assert doc["text"][1]["objectUrl"] == "gs://lab-data/zz/lab.txt"
    elif fmt == "labelbox":
        by_key = {r["global_key"]: r for r in doc}
        first = by_key["raw/a b+c.jpg"]
        assert first["external_id"] == "ext-1" and first["media_type"] == "IMAGE"
        assert {"name": "tags", "value": '["x","y"]'} in first["metadata_fields"]
        assert {"name": "ok", "value": "true"} in first["metadata_fields"]
        assert by_key["raw/clip é.mp4"]["external_id"] == "clip"
        assert "media_type" not in by_key["raw/blob.bin"]
    elif fmt == "ango":
        assert doc[0]["data"] == "https://bkt.s3.eu-central-1.amazonaws.com/raw/a%20b%2Bc.jpg"
        assert (doc[0]["externalId"], doc[0]["width"], doc[0]["height"]) == ("ext-1", 4, 3)
        assert doc[-1]["data"] == "https://storage.googleapis.com/lab-data/zz/lab.txt"
    elif fmt == "label-studio":
        kinds = {next(iter(t["data"])) for t in doc}
        assert kinds == {"image", "video", "audio", "pdf", "text", "url"}
        assert doc[0]["data"]["image"] == "s3://bkt/raw/a b+c.jpg"
        assert doc[0]["meta"]["camera"] == "c1"
    elif fmt == "cvat":
        assert doc == [
            {"name": "raw/a b+c", "extension": ".jpg", "width": 3, "height": 4},  # EXIF 6: turned
            {"name": "scans/x y", "extension": ".png", "width": 4, "height": 3},
        ]
        assert result.skipped["an image without known width/height"] == 1


def test_filters_kind_prefix_since(lake: Any) -> None:
    config, catalog = lake
    with catalog.engine.begin() as conn:
        conn.execute(files.update().values(updated_at=T0))
        conn.execute(
            files.update()
            .where(files.c.key == "raw/tone.wav")
            .values(updated_at=T0 + timedelta(days=2))
        )

    def keys(**where: Any) -> list[str]:
        text, _ = _export(config, catalog, "native", where=RowFilter(**where))
        return [unquote(item["url"]).rsplit("/", 1)[-1] for item in json.loads(text)]

    assert keys(kind="image") == ["a b+c.jpg", "no-dims.png", "x y.png"]
    assert keys(prefix="raw/c") == ["clip é.mp4"]
    assert keys(prefix="scans/") == ["x y.png"]
    assert keys(since=T0 + timedelta(days=1)) == ["tone.wav"]
    assert keys(kind="video", prefix="raw/") == ["clip é.mp4"]
    assert keys(prefix="nothing/") == []


def test_keyset_pages_in_byte_order_on_both_backends(catalog_url: str) -> None:
    catalog = Catalog(catalog_url)
    try:
        keys = ["b", "B", "a b", "a", "é", "z", "Z9", "ab", "a/b", "ü", "東"]
        folder = catalog.ensure_folder("order")
        with catalog.writer(folder.id) as writer:
            writer.upsert([_record(k, "other") for k in keys])
            writer.commit()
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(catalog.engine, "before_cursor_execute", listener)
        try:
            got = [r.key for r in rows.iter_rows(catalog, folder.id, RowFilter(), page_size=3)]
        finally:
            sa.event.remove(catalog.engine, "before_cursor_execute", listener)
        assert got == sorted(keys, key=lambda k: k.encode())
        assert sum("ORDER BY" in s for s in statements) == 4  # pages of 3 for 11 rows
        if catalog.dialect == "postgresql":
            stmt = sa.select(files.c.id).where(
                files.c.folder_id == folder.id, files.c.removed_at.is_(None)
            )
            stmt = stmt.order_by(files.c.key.collate("C"), files.c.id).limit(3)
            sql = str(stmt.compile(catalog.engine, compile_kwargs={"literal_binds": True}))
            with catalog.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
            assert "ix_op_files_export_order" in plan and "Sort" not in plan, plan
    finally:
        catalog.dispose()


def test_memory_stays_flat_as_the_folder_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak Python memory of an export: about the same for 1,000 and 6,000 rows."""
    monkeypatch.setattr(rows, "PAGE_SIZE", 200)
    config = parse_config({**CONFIG, "catalog": f"sqlite:///{tmp_path / 'big.db'}"})
    catalog = Catalog(config.catalog)
    peaks = []
    try:
        for name, n in (("small", 1_000), ("big", 6_000)):
            folder = catalog.ensure_folder(name)
            with catalog.writer(folder.id) as writer:
                writer.upsert([_record(f"k/{i:06d}.mp4", "video", VIDEO_META) for i in range(n)])
                writer.commit()
            with open(os.devnull, "w", encoding="utf-8") as sink:
                tracemalloc.start()
                result = export_folder(config, catalog, name, ExportOptions(format="encord"), sink)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            assert result.written == n
    finally:
        catalog.dispose()
    assert peaks[1] < peaks[0] * 1.5 + 256 * 1024, peaks


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    env.pop("ORCHESTRATION_PKG_GATEWAY_KEY", None)
    return subprocess.run([CLI, "--config", str(config), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)  # fmt: skip


def test_cli_errors_are_one_line_with_exit_codes(lake: Any, tmp_path: Path) -> None:
    config, catalog = lake
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({**CONFIG, "catalog": config.catalog}))
    out = tmp_path / "out.json"
    cases = [
        (["export", "nope", "--format", "native"], 2, "error: unknown folder 'nope'"),
        (["export", "lake", "--format", "ango", "--urls", "gateway", "--gateway-url",
          "http://127.0.0.1:9"], 2, "needs a signing key"),
        (["export", "lake", "--format", "labelbox", "--urls", "signed", "-o", str(out)], 1,
         "export failed:"),  # the GCS row: anonymous credentials cannot sign
    ]  # fmt: skip
    for args, code, text in cases:
        proc = _cli(path, *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == code, (args, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], lines
        assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(
        tmp_path.glob(".out.json.partial-*")
    )  # nothing half-written
