"""Native shape: ``{"url", "title", "external_id", "media_kind", "client_metadata", ...}``;
``media_metadata`` (what ``export --format native`` writes: everything once probed) is stored
as given, under the typed fields and whatever a probe finds now."""

from __future__ import annotations

from typing import Any

from orchestration_pkg.core.manifest.shapes.fields import (
    MEDIA_FIELDS,
    BadField,
    Row,
    kind_value,
    make_item,
    media_metadata,
    need_object,
    object_field,
    text_field,
    url_field,
)
from orchestration_pkg.core.models import MediaKind

NATIVE_KINDS = {
    k.value: k for k in MediaKind if k not in (MediaKind.IMAGE_GROUP, MediaKind.DICOM_SERIES)
}


def native_item(row: int, item: Any) -> list[Row]:
    """The row of one native item."""
    item = need_object(item)
    if "url" not in item and "objectUrl" in item:  # an Encord row outside its list
        raise BadField(
            "url",
            'missing (objectUrl is Encord\'s name: put such rows under {"images": [...]}, '
            '"videos", …, or name the field "url")',
        )
    url = url_field(item, "url")
    given = {name: (name, item.get(name)) for name in MEDIA_FIELDS if name in item}
    return [
        make_item(
            row,
            url,
            title=text_field(item, "title", url),
            external_id=text_field(item, "external_id", url),
            kind=kind_value(item.get("media_kind"), "media_kind", NATIVE_KINDS, url),
            meta=object_field(item, "client_metadata", url),
            given=media_metadata(given, url, strict=True),
            media=object_field(item, "media_metadata", url),
        )
    ]
