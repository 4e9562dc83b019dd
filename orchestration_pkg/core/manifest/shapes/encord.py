"""Encord shape: one item of an Encord list (``images``, ``videos``, ``image_groups``...);
image groups and DICOM series give one row per URL."""

from __future__ import annotations

import re
from typing import Any

from orchestration_pkg.core.manifest.shapes.fields import (
    CAMEL,
    MEDIA_FIELDS,
    BadField,
    Row,
    check_url,
    make_item,
    media_metadata,
    need_object,
    object_field,
    text_field,
    url_field,
)
from orchestration_pkg.core.models import MediaKind, MediaMetadata

ENCORD_LISTS: dict[str, MediaKind] = {
    "images": MediaKind.IMAGE,
    "videos": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "text": MediaKind.TEXT,
    "pdf": MediaKind.PDF,
    "image_groups": MediaKind.IMAGE_GROUP,
    "dicom_series": MediaKind.DICOM_SERIES,
}
_ENCORD_METADATA = {
    "images": "imageMetadata",
    "videos": "videoMetadata",
    "audio": "audioMetadata",
    "text": "textMetadata",
    "pdf": "pdfMetadata",
}
_GROUP_LISTS = ("image_groups", "dicom_series")
_FROM_CAMEL = {CAMEL.get(name, name): name for name in MEDIA_FIELDS}
_OBJECT_URL_N = re.compile(r"objectUrl_(\d+)")


def encord_item(row: int, value: tuple[str, Any]) -> list[Row]:
    """The rows of one item of the Encord list ``value[0]``."""
    list_name, item = value
    item = need_object(item)
    kind = ENCORD_LISTS[list_name]
    if list_name in _GROUP_LISTS:
        return _encord_group(row, kind, item)
    url = url_field(item, "objectUrl")
    return [
        make_item(
            row,
            url,
            title=text_field(item, "title", url),
            kind=kind,
            meta=object_field(item, "clientMetadata", url),
            given=_encord_metadata(item, _ENCORD_METADATA[list_name], url),
        )
    ]


def _encord_metadata(item: dict[str, Any], field: str, url: str) -> MediaMetadata:
    block = object_field(item, field, url)
    given = {
        _FROM_CAMEL[key]: (f"{field}.{key}", value)
        for key, value in block.items()
        if key in _FROM_CAMEL
    }
    return media_metadata(given, url, strict=True)


def _encord_group(row: int, kind: MediaKind, item: dict[str, Any]) -> list[Row]:
    """One item per URL of an image group / DICOM series, sharing the group's row."""
    urls = _group_urls(item)
    title = text_field(item, "title", urls[0])
    meta = object_field(item, "clientMetadata", urls[0])
    group: dict[str, Any] = {"group_title": title}
    if item.get("createVideo") is True:  # an image sequence: kept so an export says so again
        group["group_create_video"] = True
    return [
        make_item(row, url, kind=kind, meta={**meta, **group, "group_index": i})
        for i, url in enumerate(urls)
    ]


def _group_urls(item: dict[str, Any]) -> list[str]:
    numbered = sorted(
        (int(match.group(1)), key)
        for key in item
        if (match := _OBJECT_URL_N.fullmatch(key)) is not None
    )
    if numbered:
        return [check_url(key, item[key]) for _, key in numbered]
    for field in ("objectUrls", "imageGroup"):
        if field in item:
            entries = item[field]
            if not isinstance(entries, list) or not entries:
                raise BadField(field, "must be a non-empty array of URLs")
            return [_group_entry(f"{field}[{i}]", entry) for i, entry in enumerate(entries)]
    raise BadField("objectUrl_0", "missing: a group needs objectUrl_0, objectUrl_1, ...")


def _group_entry(field: str, entry: Any) -> str:
    if isinstance(entry, dict):
        return check_url(f"{field}.objectUrl", entry.get("objectUrl"))
    return check_url(field, entry)
