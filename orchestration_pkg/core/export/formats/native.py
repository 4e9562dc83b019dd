"""Our own manifest shape, so that ``export --format native`` → ``register`` gives back the
same folder: ``url``, ``title``, ``external_id``, ``media_kind``, ``client_metadata``, the typed
metadata fields a manifest may give (so a re-registration needs one HEAD, not a probe) and
``media_metadata`` (everything once probed, stored again as it was).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError

from orchestration_pkg.core.export.formats.base import ExportFormat, JsonArray
from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.export.urls import UrlStyle
from orchestration_pkg.core.manifest.shapes.native import NATIVE_KINDS
from orchestration_pkg.core.models import MediaMetadata

_TYPED = tuple(MediaMetadata.model_fields)


def typed_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``meta`` a native row may carry at its top level, if they validate."""
    values = {name: meta[name] for name in _TYPED if meta.get(name) is not None}
    try:
        MediaMetadata.model_validate(values, strict=True)
    except ValidationError:
        return {}
    return values


class NativeFormat(ExportFormat):
    name: ClassVar[str] = "native"
    url_style: ClassVar[UrlStyle] = "stored"
    description: ClassVar[str] = "our own manifest (register reads it back)"

    def open(self) -> None:
        self._array = JsonArray(self.out)
        self._array.open()

    def add(self, row: ExportRow, url: str) -> None:
        item: dict[str, Any] = {"url": url}
        if row.title is not None:
            item["title"] = row.title
        if row.external_id is not None:
            item["external_id"] = row.external_id
        kind = row.media_kind if row.media_kind in NATIVE_KINDS else None
        if row.media_kind == "image_group":
            kind = "image"
        if kind:
            item["media_kind"] = kind
        if row.client_metadata:
            item["client_metadata"] = row.client_metadata
        item.update(typed_fields(row.media_metadata))
        if row.media_metadata:
            item["media_metadata"] = row.media_metadata
        self._array.add(item)
        self.written += 1

    def close(self) -> None:
        self._array.close()
        self.out.write("\n")
