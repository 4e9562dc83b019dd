"""Hostile manifests and files: every bad row or file is its own error, memory stays bounded.

Deep nesting (100,000 levels) in each place a row holds free-form values, integers beyond 64
bits, NUL characters, non-finite numbers and values past ``limits:``; and the per-file
boundary: whatever one file raises becomes that file's unit error.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import parse_config
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import ConfigError, ManifestError
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.manifest.limits import InputLimits
from orchestration_pkg.core.models import JobStatus, ManifestItem, RowError
from orchestration_pkg.core.providers.s3.storage import S3Storage
from orchestration_pkg.core.storage import RangeRead
from tests.media import image_bytes

DEEP = 100_000
ROOT = Path(__file__).resolve().parents[1]


def deep(n: int = DEEP) -> str:
    return "[" * n + "]" * n


def rows_of(path: Path, **kwargs: Any) -> list[Any]:
    return list(read_manifest(path, **kwargs))


# --- 100,000 levels, in a child process: fast, bounded RSS, one row error --------------------

DEEP_MANIFESTS = {
    "native.json": '[{"url": "s3://b/ok.jpg"}, {"url": "s3://b/x.jpg", "client_metadata": '
    '{"x": DEEP}}, {"url": "s3://b/ok2.jpg"}]',
    "encord.json": '{"images": [{"objectUrl": "s3://b/ok.jpg"}, {"objectUrl": "s3://b/x.jpg", '
    '"clientMetadata": {"x": DEEP}}, {"objectUrl": "s3://b/ok2.jpg"}]}',
    "labelbox.json": '[{"row_data": "s3://b/ok.jpg"}, {"row_data": "s3://b/x.jpg", '
    '"metadata_fields": [{"name": "x", "value": DEEP}]}, {"row_data": "s3://b/ok2.jpg"}]',
    "ango.jsonl": '{"data": "s3://b/ok.jpg"}\n{"data": "s3://b/x.jpg", "metadata": {"x": DEEP}}'
    '\n{"data": "s3://b/ok2.jpg"}\n',
    "native.csv": 'url,client_metadata\ns3://b/ok.jpg,\ns3://b/x.jpg,"{""x"": DEEP}"\n'
    "s3://b/ok2.jpg,\n",
}

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from orchestration_pkg.core.manifest import read_manifest
    start = time.monotonic()
    rows = [
        [r.row, r.field] if hasattr(r, "field") else [r.row, r.url]
        for r in read_manifest(sys.argv[1])
    ]
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    print(json.dumps({"rows": rows, "seconds": time.monotonic() - start, "hwm_kb": int(hwm)}))
    """
)


@pytest.mark.parametrize("name", sorted(DEEP_MANIFESTS))
def test_100k_deep_nesting_is_one_row_error_fast_and_small(tmp_path, name):
    path = tmp_path / name
    text = DEEP_MANIFESTS[name].replace("DEEP", deep())
    if name.endswith(".csv"):
        text = text.replace(deep(), deep().replace('"', '""'))
    path.write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    row_two = 3 if name.endswith(".csv") else 2  # CSV rows count the header
    assert len(doc["rows"]) == 3
    bad = [r for r in doc["rows"] if r[0] == row_two][0]
    assert not str(bad[1]).startswith("s3://"), doc["rows"]  # a row error, not an item
    good = [r[1] for r in doc["rows"] if r[0] != row_two]
    assert good == ["s3://b/ok.jpg", "s3://b/ok2.jpg"]
    assert doc["hwm_kb"] < 300 * 1024, f"peak RSS {doc['hwm_kb']} kB"
    assert doc["seconds"] < 20


# --- limits: -------------------------------------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


def test_metadata_depth_and_size_limits_are_row_errors_and_configurable(tmp_path):
    rows = [
        {"url": "s3://b/ok.jpg", "client_metadata": nested(32)},
        {"url": "s3://b/deep.jpg", "client_metadata": nested(33)},
        {"url": "s3://b/big.jpg", "client_metadata": {"blob": "x" * 70_000}},
        {"url": "s3://b/title.jpg", "title": "t" * 70_000},
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    found = rows_of(path)
    assert isinstance(found[0], ManifestItem)
    errors = {e.row: e for e in found if isinstance(e, RowError)}
    assert errors[2].field == "client_metadata" and "max_metadata_depth" in errors[2].reason
    assert errors[2].url == "s3://b/deep.jpg"
    assert errors[3].field == "client_metadata" and "max_metadata_bytes" in errors[3].reason
    assert errors[4].field == "title"
    looser = InputLimits(max_metadata_depth=40, max_metadata_bytes=100_000)
    assert all(isinstance(r, ManifestItem) for r in rows_of(path, limits=looser))


def test_limits_come_from_the_config_and_are_checked():
    cfg = parse_config({"limits": {"max_metadata_depth": 8, "max_metadata_bytes": 4096}})
    assert cfg.limits == InputLimits(max_metadata_depth=8, max_metadata_bytes=4096)
    assert parse_config({}).limits == InputLimits(max_metadata_depth=32, max_metadata_bytes=65536)
    with pytest.raises(ConfigError, match="limits.max_metadata_depth"):
        parse_config({"limits": {"max_metadata_depth": 100_000}})
    with pytest.raises(ConfigError, match="limits.max_metadat"):
        parse_config({"limits": {"max_metadata_bites": 1}})


BIG = 2**64 + 1


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "m.json",
            f'[{{"url": "s3://b/1.jpg"}}, {{"url": "s3://b/2.jpg", "client_metadata": {{"n": '
            f'{BIG}}}}}, {{"url": "s3://b/3.jpg", "width": {BIG}}}, {{"url": "s3://b/4.jpg"}}]',
        ),
        (
            "m.json",
            f'{{"images": [{{"objectUrl": "s3://b/1.jpg"}}, {{"objectUrl": "s3://b/2.jpg", '
            f'"clientMetadata": {{"n": [{BIG}]}}}}, {{"objectUrl": "s3://b/3.jpg", '
            f'"imageMetadata": {{"width": {2**31}}}}}, {{"objectUrl": "s3://b/4.jpg"}}]}}',
        ),
        (
            "m.jsonl",
            f'{{"url": "s3://b/1.jpg"}}\n{{"url": "s3://b/2.jpg", "client_metadata": '
            f'{{"n": -{BIG}}}}}\n{{"url": "s3://b/3.jpg", "width": {BIG}}}\n'
            '{"url": "s3://b/4.jpg"}\n',
        ),
        (
            "m.csv",
            f'url,client_metadata,width\ns3://b/1.jpg,,\ns3://b/2.jpg,"{{""n"": {BIG}}}",\n'
            f"s3://b/3.jpg,,{BIG}\ns3://b/4.jpg,,\n",
        ),
    ],
)
def test_an_integer_beyond_64_bits_is_only_its_rows_error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    found = rows_of(path)
    good = [r.url for r in found if isinstance(r, ManifestItem)]
    assert good == ["s3://b/1.jpg", "s3://b/4.jpg"]
    bad = [r for r in found if isinstance(r, RowError)]
    assert [r.url for r in bad] == ["s3://b/2.jpg", "s3://b/3.jpg"]


def test_non_finite_numbers_nul_and_absurd_integers(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"url": "s3://b/1.jpg", "client_metadata": {"x": NaN}}\n'
        '{"url": "s3://b/2.jpg", "client_metadata": {"x": 1e999}}\n'
        '{"url": "s3://b/3.jpg", "title": "a\\u0000b"}\n'
        '{"url": "s3://b/4.jpg", "client_metadata": {"k\\u0000": 1}}\n'
        '{"url": "s3://b/5.jpg", "client_metadata": {"x": 1' + "0" * 5000 + "}}\n"
        '{"url": "s3://b/6.jpg", "duration": 1e999, "media_kind": "video"}\n'
        '{"url": "s3://b/ok.jpg"}\n',
        encoding="utf-8",
    )
    found = rows_of(path)
    assert [type(r).__name__ for r in found] == ["RowError"] * 6 + ["ManifestItem"]
    assert "not finite" in found[0].reason and "not finite" in found[1].reason
    assert found[2].field == "title" and "NUL" in found[2].reason
    assert "NUL" in found[3].reason
    # a 5,000-digit integer in a JSON document cannot be read at all: one line, no traceback
    doc = tmp_path / "m.json"
    doc.write_text('[{"url": "s3://b/1.jpg", "client_metadata": {"x": 1' + "0" * 5000 + "}}]")
    with pytest.raises(ManifestError, match="more than 4000 digits"):
        rows_of(doc)


# --- the catalog never sees what it cannot store (both backends) ---------------------------


def test_rows_the_database_would_refuse_are_row_errors_on_every_backend(
    catalog_url, s3_bucket, s3_config_factory, tmp_path
):
    b = s3_bucket.name
    rows = [
        {"url": f"s3://{b}/ok.png", "width": 4, "height": 3, "title": "fine"},
        {"url": f"s3://{b}/nul-title.png", "title": "x\u0000y"},
        {"url": f"s3://{b}/nul\u0000key.png"},
        {"url": f"{s3_bucket.endpoint}/{b}/pct%00key.png"},
        {"url": f"s3://{b}/wide.png", "width": 2**31, "height": 1},
        {"url": f"s3://{b}/meta.png", "client_metadata": {"n": BIG, "s": "a\u0000"}},
        {"url": f"s3://{b}/size.png", "file_size": 2**63},
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    storage = S3Storage(s3_config_factory())
    catalog = Catalog(catalog_url)
    try:
        result = RegistrationEngine(catalog, storage).register(
            read_manifest(path), "lake", RegistrationOptions(ignore_errors=True, fetch="none")
        )
        files = [f.key for f in catalog.iter_files("lake")]
        stored = catalog.get_job(result.job_id)
    finally:
        catalog.dispose()
    assert result.status is JobStatus.DONE, result.error
    assert (result.registered, result.failed) == (1, 6)
    assert files == ["ok.png"]
    assert stored.status is JobStatus.DONE and stored.failed == 6
    codes = {u.url.rsplit("/", 1)[-1]: u.code for u in result.unit_errors}
    assert codes.pop("pct%00key.png") == "bad_url"  # decodes to a NUL in the key
    assert set(codes.values()) == {"malformed_row"}  # refused while reading the manifest


# --- the per-file boundary ------------------------------------------------------------------


class ExplodingStorage(S3Storage):
    """A storage implementation with a bug: reading ``boom.png`` raises a plain KeyError
    (the ``Storage`` protocol is how integrations plug in; a plugin's bug must stay one file's
    error). The secret in the exception text must never be shown."""

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        if key.endswith("boom.png"):
            raise KeyError("secret-in-exception-text-123")
        return super().read_range(key, start, length)


@pytest.fixture
def exploding(s3_bucket, s3_config_factory, tmp_path):
    for name in ("ok.png", "boom.png"):
        s3_bucket.put(name, image_bytes(5, 4, "PNG"), "image/png")
    path = tmp_path / "m.json"
    urls = [f"s3://{s3_bucket.name}/{n}" for n in ("ok.png", "boom.png")]
    path.write_text(json.dumps([{"url": u} for u in urls]), encoding="utf-8")
    return ExplodingStorage(s3_config_factory()), path


def test_any_exception_of_one_file_is_its_unit_error(exploding, tmp_path, caplog):
    storage, path = exploding
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        engine = RegistrationEngine(catalog, storage)
        loose = engine.register(read_manifest(path), "a", RegistrationOptions(ignore_errors=True))
        strict = engine.register(read_manifest(path), "b")
        stored = catalog.get_job(strict.job_id)
    finally:
        catalog.dispose()
    assert loose.status is JobStatus.DONE and (loose.registered, loose.failed) == (1, 1)
    unit = loose.unit_errors[0]
    assert unit.code == "internal" and not unit.transient and unit.url.endswith("boom.png")
    assert unit.error.startswith("internal error: KeyError at ")
    assert "test_hostile_input.py" in unit.error  # where it was raised
    assert strict.status is JobStatus.FAILED and strict.registered == 0
    assert stored.status is JobStatus.FAILED
    everything = caplog.text + json.dumps([loose.model_dump(), strict.model_dump()], default=str)
    assert "secret-in-exception-text-123" not in everything


def two_page_tiff_without_second_width() -> bytes:
    """A TIFF whose second page lacks its ImageWidth tag: Pillow raised TypeError counting
    its frames (found by fuzzing the probers)."""
    buf = io.BytesIO()
    pages = [Image.new("RGB", (6, 4)), Image.new("RGB", (3, 2))]
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    data = bytearray(buf.getvalue())
    first = int.from_bytes(data[4:8], "little")
    count = int.from_bytes(data[first : first + 2], "little")
    at = first + 2 + 12 * count
    second = int.from_bytes(data[at : at + 4], "little")
    for i in range(int.from_bytes(data[second : second + 2], "little")):
        tag = second + 2 + 12 * i
        if int.from_bytes(data[tag : tag + 2], "little") == 256:  # ImageWidth
            data[tag : tag + 2] = (0x9999).to_bytes(2, "little")
    return bytes(data)


def test_a_tiff_whose_second_page_crashed_pillow_registers_its_first(
    s3_bucket, s3_config_factory, tmp_path
):
    s3_bucket.put("crafted.tif", two_page_tiff_without_second_width(), "image/tiff")
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"url": f"s3://{s3_bucket.name}/crafted.tif"}]), "utf-8")
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        result = RegistrationEngine(catalog, S3Storage(s3_config_factory())).register(
            read_manifest(path), "lake"
        )
        (record,) = catalog.iter_files("lake")
    finally:
        catalog.dispose()
    assert result.status is JobStatus.DONE and result.registered == 1, result.unit_errors
    assert (record.width, record.height) == (6, 4)


def test_an_unexpected_error_in_the_cli_is_one_line_not_a_traceback(tmp_path):
    """Whatever escapes every other boundary (here: a catalog URL SQLAlchemy cannot parse)."""
    from tests.test_cli import run

    config = tmp_path / "c.yaml"
    config.write_text("catalog: 'notadb://x'\n", encoding="utf-8")
    proc = run("--config", str(config), "folders")
    assert proc.returncode in (1, 2)
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
