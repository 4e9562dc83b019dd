"""Labelbox data rows as NDJSON: one ``{"row_data", "global_key", "external_id", "media_type",
"metadata_fields"}`` object per line.

``global_key`` is the object key (unique in a folder); ``external_id`` the row's external id,
else its title. Client metadata becomes ``metadata_fields`` (``{"name", "value"}``); values
other than strings and numbers are written as JSON text (Labelbox metadata are string,
number, datetime or enum).
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestration_pkg.core.export.formats.base import ExportFormat, dumps
from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.export.urls import UrlStyle

MEDIA_TYPES = {
    "image": "IMAGE",
    "image_group": "IMAGE",
    "video": "VIDEO",
    "audio": "AUDIO",
    "text": "TEXT",
    "pdf": "PDF",
}


def metadata_fields(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """``{name: value}`` as Labelbox ``[{"name", "value"}]`` (None values left out)."""
    fields = []
    for name, value in meta.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            value = dumps(value)
        fields.append({"name": str(name), "value": value})
    return fields


class LabelboxFormat(ExportFormat):
    name: ClassVar[str] = "labelbox"
    url_style: ClassVar[UrlStyle] = "s3_https"
    description: ClassVar[str] = "Labelbox data rows, NDJSON"

    def add(self, row: ExportRow, url: str) -> None:
        item: dict[str, Any] = {"row_data": url, "global_key": row.key}
        external = row.external_id or row.title
        if external:
            item["external_id"] = external
        media_type = MEDIA_TYPES.get(row.media_kind or "")
        if media_type:
            item["media_type"] = media_type
        fields = metadata_fields(row.client_metadata)
        if fields:
            item["metadata_fields"] = fields
        self.out.write(dumps(item) + "\n")
        self.written += 1
