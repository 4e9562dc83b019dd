"""Label Studio tasks JSON: ``[{"data": {"image": URL, "key": …, "title": …}, "meta": {…}}]``.

The URL sits under the key a labeling config names (``$image``, ``$video``, ``$audio``,
``$text``, ``$pdf``; ``$url`` for other files). ``s3://``/``gs://`` URLs as stored resolve
through a Label Studio source storage; signed or gateway URLs work without one. Client
metadata goes to the task's ``meta``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestration_pkg.core.export.formats.base import ExportFormat, JsonArray
from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.export.urls import UrlStyle

DATA_KEYS = {
    "image": "image",
    "image_group": "image",
    "video": "video",
    "audio": "audio",
    "text": "text",
    "pdf": "pdf",
}


class LabelStudioFormat(ExportFormat):
    name: ClassVar[str] = "label-studio"
    url_style: ClassVar[UrlStyle] = "stored"
    description: ClassVar[str] = "Label Studio tasks JSON"

    def open(self) -> None:
        self._array = JsonArray(self.out)
        self._array.open()

    def add(self, row: ExportRow, url: str) -> None:
        data: dict[str, Any] = {DATA_KEYS.get(row.media_kind or "", "url"): url, "key": row.key}
        if row.title:
            data["title"] = row.title
        if row.external_id:
            data["external_id"] = row.external_id
        task: dict[str, Any] = {"data": data}
        if row.client_metadata:
            task["meta"] = row.client_metadata
        self._array.add(task)
        self.written += 1

    def close(self) -> None:
        self._array.close()
        self.out.write("\n")
