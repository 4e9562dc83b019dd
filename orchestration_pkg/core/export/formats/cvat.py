"""CVAT's dataset manifest for cloud storage (``manifest.jsonl``): two header lines
(``{"version":"1.1"}``, ``{"type":"images"}``), then one line per image: ``name`` (the key
without its extension, relative to the bucket or container root), ``extension`` (with the
dot), ``width`` and ``height`` as displayed (EXIF orientations 5–8 swap them, as CVAT's own
manifest tool does).

Only images with known dimensions can be listed; CVAT finds the files by name in the attached
cloud storage, so the manifest carries no URLs (``--urls`` must stay ``canonical``).
"""

from __future__ import annotations

import posixpath
from typing import Any, ClassVar

from orchestration_pkg.core.export.formats.base import ExportFormat, display_size, dumps
from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.export.urls import UrlStyle

VERSION = "1.1"


class CvatFormat(ExportFormat):
    name: ClassVar[str] = "cvat"
    url_style: ClassVar[UrlStyle] = "none"
    description: ClassVar[str] = "CVAT manifest.jsonl for cloud storage (images)"

    def open(self) -> None:
        self.out.write(dumps({"version": VERSION}) + "\n" + dumps({"type": "images"}) + "\n")

    def skip_reason(self, row: ExportRow) -> str | None:
        if row.media_kind not in ("image", "image_group"):
            return "not an image (CVAT manifests list images)"
        if row.key == row.object_url:
            return "a direct URL, not an object in a bucket"
        width, height = display_size(row)
        if not width or not height:
            return "an image without known width/height"
        return None

    def add(self, row: ExportRow, url: str) -> None:
        name, extension = posixpath.splitext(row.key)
        width, height = display_size(row)
        item: dict[str, Any] = {"name": name, "extension": extension, "width": width}
        item["height"] = height
        self.out.write(dumps(item) + "\n")
        self.written += 1
