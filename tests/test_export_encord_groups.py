"""Encord image groups, image sequences and DICOM series: registered as one row per URL,
exported as the groups they came from (positions kept, sequences flagged, metadata back)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from orchestration_pkg.core.catalog import Catalog, FileRecord
from orchestration_pkg.core.config import parse_config
from orchestration_pkg.core.export import ExportOptions, export_folder
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import ManifestItem, RowError
from tests.export_shapes import check_encord

S3 = "https://bkt.s3.eu-central-1.amazonaws.com/"
CONFIG = {
    "integrations": [
        {"name": "acme", "bucket": "bkt", "region": "eu-central-1",
         "auth": {"method": "access_key", "access_key_id": "a", "secret_access_key": "b"}},
    ]
}  # fmt: skip
# Members whose key order is not their position order (z/…, a/…, 10 before 2), two groups
# interleaved in key order, a sequence, a series, a plain image and a video.
MANIFEST = {
    "image_groups": [
        {"title": "inspection 1", "objectUrl_0": f"{S3}z/front.jpg",
         "objectUrl_1": f"{S3}a/side%20left.jpg", "objectUrl_2": f"{S3}m/r%C3%A9ar.jpg",
         "clientMetadata": {"car": "v1"}},
        {"title": "clip-frames", "createVideo": True, "objectUrl_0": f"{S3}seq/f0.png",
         "objectUrl_1": f"{S3}seq/f1.png", "objectUrl_2": f"{S3}seq/f10.png"},
        {"title": "inspection 2", "objectUrl_0": f"{S3}a/b.jpg", "objectUrl_1": f"{S3}z/a.jpg"},
    ],
    "dicom_series": [
        {"title": "ct-1", "objectUrl_0": f"{S3}ct/3.dcm", "objectUrl_1": f"{S3}ct/1.dcm",
         "objectUrl_2": f"{S3}ct/2.dcm"},
    ],
    "images": [{"objectUrl": f"{S3}single.jpg", "title": "one"}],
}  # fmt: skip


def _items(path: Path) -> list[ManifestItem]:
    with read_manifest(path) as manifest:
        rows = list(manifest)
    assert not [r for r in rows if isinstance(r, RowError)], rows
    return [r for r in rows if isinstance(r, ManifestItem)]


def _records(items: list[ManifestItem]) -> list[FileRecord]:
    return [
        FileRecord(
            object_url=item.url,
            key=unquote(item.url.removeprefix(S3)),
            integration="acme",
            media_kind=item.media_kind.value if item.media_kind else None,
            title=item.title,
            client_metadata=item.client_metadata,
        )
        for item in items
    ]


@pytest.fixture
def exported(tmp_path: Path) -> tuple[dict[str, Any], list[ManifestItem], Path]:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(MANIFEST), encoding="utf-8")
    items = _items(source)
    config = parse_config({**CONFIG, "catalog": f"sqlite:///{tmp_path / 'cat.db'}"})
    catalog = Catalog(config.catalog)
    try:
        folder = catalog.ensure_folder("groups")
        with catalog.writer(folder.id) as writer:
            writer.upsert(_records(items))
            writer.commit()
        out = io.StringIO()
        result = export_folder(config, catalog, "groups", ExportOptions(format="encord"), out)
    finally:
        catalog.dispose()
    assert result.written == len(items) and not result.skipped
    target = tmp_path / "out.json"
    target.write_text(out.getvalue(), encoding="utf-8")
    return check_encord(out.getvalue()), items, target


def test_groups_come_back_whole_in_position_order(exported: Any) -> None:
    doc, _, _ = exported
    groups = {g["title"]: g for g in doc["image_groups"]}
    assert groups["inspection 1"] == {**MANIFEST["image_groups"][0], "createVideo": False}
    assert groups["clip-frames"] == MANIFEST["image_groups"][1]  # the sequence stays one
    assert groups["inspection 2"] == {**MANIFEST["image_groups"][2], "createVideo": False}
    assert doc["dicom_series"] == MANIFEST["dicom_series"]
    assert doc["images"] == [{"objectUrl": f"{S3}single.jpg", "title": "one"}]
    assert "videos" not in doc


def test_export_reads_back_as_the_same_rows(exported: Any) -> None:
    _, before, path = exported

    def facts(items: list[ManifestItem]) -> list[tuple[Any, ...]]:
        return sorted(
            (i.url, i.media_kind, i.title, json.dumps(i.client_metadata, sort_keys=True))
            for i in items
        )

    assert facts(_items(path)) == facts(before)


def test_a_dicom_file_outside_a_series_is_a_series_of_one(tmp_path: Path) -> None:
    config = parse_config({**CONFIG, "catalog": f"sqlite:///{tmp_path / 'cat.db'}"})
    catalog = Catalog(config.catalog)
    try:
        folder = catalog.ensure_folder("f")
        with catalog.writer(folder.id) as writer:
            writer.upsert([FileRecord(object_url="s3://bkt/x/scan.dcm", key="x/scan.dcm",
                                      integration="acme", media_kind="dicom_series")])  # fmt: skip
            writer.commit()
        out = io.StringIO()
        export_folder(config, catalog, "f", ExportOptions(format="encord"), out)
    finally:
        catalog.dispose()
    doc = check_encord(out.getvalue())
    assert doc["dicom_series"] == [{"title": "x/scan.dcm", "objectUrl_0": f"{S3}x/scan.dcm"}]
