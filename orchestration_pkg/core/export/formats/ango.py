"""Ango Hub's import JSON: ``[{"data": URL, "externalId": …, "width": …, "height": …}]``.

Ango wants https URLs with the region, percent-encoded (``%20``, never ``+``): that is the
https form ``--urls canonical`` writes for S3 objects (GCS: ``storage.googleapis.com``).
``externalId`` is the row's external id, else its title, else its key; width and height
(pixels, as stored) for images that have them, which Ango needs to export bitmasks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestration_pkg.core.export.formats.base import ExportFormat, JsonArray
from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.export.urls import UrlStyle


class AngoFormat(ExportFormat):
    name: ClassVar[str] = "ango"
    url_style: ClassVar[UrlStyle] = "https"
    description: ClassVar[str] = "Ango Hub import JSON"

    def open(self) -> None:
        self._array = JsonArray(self.out)
        self._array.open()

    def add(self, row: ExportRow, url: str) -> None:
        item: dict[str, Any] = {"data": url, "externalId": row.external_id or row.title or row.key}
        if row.media_kind in ("image", "image_group") and row.width and row.height:
            item["width"], item["height"] = row.width, row.height
        self._array.add(item)
        self.written += 1

    def close(self) -> None:
        self._array.close()
        self.out.write("\n")
