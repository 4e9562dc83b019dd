"""Ango shape: ``{"data": url, "externalId", "metadata", "width", "height"}``."""

from __future__ import annotations

from typing import Any

from orchestration_pkg.core.manifest.media_kind import guess_media_kind
from orchestration_pkg.core.manifest.shapes.fields import (
    Row,
    make_item,
    media_metadata,
    need_object,
    object_field,
    text_field,
    url_field,
)


def ango_item(row: int, item: Any) -> list[Row]:
    """The row of one Ango asset."""
    item = need_object(item)
    url = url_field(item, "data")
    external_id = text_field(item, "externalId", url)
    given = {name: (name, item.get(name)) for name in ("width", "height")}
    return [
        make_item(
            row,
            url,
            title=external_id,
            external_id=external_id,
            kind=guess_media_kind(url),
            meta=object_field(item, "metadata", url),
            given=media_metadata(given, url, strict=True),
        )
    ]
