"""Labelbox shape: ``{"row_data": url, "global_key", "external_id", "media_type",
"metadata_fields": [{"name", "value"}]}``."""

from __future__ import annotations

from typing import Any

from orchestration_pkg.core.manifest.shapes.fields import (
    BadField,
    Row,
    json_type,
    kind_value,
    make_item,
    need_object,
    text_field,
    url_field,
)
from orchestration_pkg.core.models import MediaKind

LABELBOX_KINDS = {
    "IMAGE": MediaKind.IMAGE,
    "VIDEO": MediaKind.VIDEO,
    "AUDIO": MediaKind.AUDIO,
    "TEXT": MediaKind.TEXT,
    "HTML": MediaKind.TEXT,
    "PDF": MediaKind.PDF,
    "DOCUMENT": MediaKind.PDF,
}


def labelbox_item(row: int, item: Any) -> list[Row]:
    """The row of one Labelbox data row."""
    item = need_object(item)
    url = url_field(item, "row_data")
    global_key = text_field(item, "global_key", url)
    external_id = text_field(item, "external_id", url)
    return [
        make_item(
            row,
            url,
            title=global_key or external_id,
            external_id=external_id or global_key,
            kind=kind_value(item.get("media_type"), "media_type", LABELBOX_KINDS, url),
            meta=_metadata_fields(item, url),
        )
    ]


def _metadata_fields(item: dict[str, Any], url: str) -> dict[str, Any]:
    """Labelbox ``metadata_fields: [{"name": ..., "value": ...}]`` as ``{name: value}``."""
    fields = item.get("metadata_fields")
    if fields is None:
        return {}
    if not isinstance(fields, list):
        raise BadField("metadata_fields", f"must be an array, not {json_type(fields)}", url)
    meta: dict[str, Any] = {}
    for i, entry in enumerate(fields):
        if not isinstance(entry, dict):
            raise BadField(f"metadata_fields[{i}]", "must be an object with name and value", url)
        name = entry.get("name") or entry.get("schema_id")
        if not isinstance(name, str):
            raise BadField(f"metadata_fields[{i}].name", "missing", url)
        meta[name] = entry.get("value")
    return meta
