"""Checks shared by every shape: one item's fields turned into a :class:`ManifestItem`, or a
:class:`BadField` naming the field and the reason (which becomes a ``RowError``)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from orchestration_pkg.core.manifest.media_kind import guess_media_kind
from orchestration_pkg.core.models import ManifestItem, MediaKind, MediaMetadata, RowError

Row = ManifestItem | RowError

MEDIA_FIELDS = tuple(MediaMetadata.model_fields)
CAMEL = {
    "mime_type": "mimeType",
    "file_size": "fileSize",
    "sample_rate": "sampleRate",
    "bit_depth": "bitDepth",
    "num_channels": "numChannels",
}


class BadField(Exception):
    """A row problem found while converting one item."""

    def __init__(self, field: str, reason: str, url: str | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.url = url


def json_type(value: Any) -> str:
    """How a JSON value's type is named in messages (``a string``, ``null``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def need_object(item: Any) -> dict[str, Any]:
    """The item itself, which must be a JSON object."""
    if not isinstance(item, dict):
        raise BadField("item", f"must be a JSON object, not {json_type(item)}")
    return item


def url_field(item: dict[str, Any], field: str) -> str:
    """The required URL in ``item[field]``."""
    if field not in item:
        raise BadField(field, "missing")
    return check_url(field, item[field])


def check_url(field: str, value: Any) -> str:
    """``value`` as a non-empty URL string."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadField(field, "is empty")
    if not isinstance(value, str):
        raise BadField(field, f"must be a string, not {json_type(value)}")
    return value


def text_field(item: dict[str, Any], field: str, url: str) -> str | None:
    """An optional text field (an integer is accepted and turned into text)."""
    value = item.get(field)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BadField(field, f"must be a string, not {json_type(value)}", url)


def object_field(item: dict[str, Any], field: str, url: str) -> dict[str, Any]:
    """An optional JSON object field (``{}`` if absent or null)."""
    value = item.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadField(field, f"must be a JSON object, not {json_type(value)}", url)
    return value


def kind_value(value: Any, field: str, names: dict[str, MediaKind], url: str) -> MediaKind | None:
    """A media kind named in the manifest (case-insensitive); guessed from the URL if absent."""
    if value is None or value == "":
        return guess_media_kind(url)
    if not isinstance(value, str):
        raise BadField(field, f"must be a string, not {json_type(value)}", url)
    kind = names.get(value.strip().lower()) or names.get(value.strip().upper())
    if kind is None:
        allowed = ", ".join(names)
        raise BadField(field, f"unknown value {value[:40]!r} (expected one of {allowed})", url)
    return kind


def media_metadata(given: dict[str, tuple[str, Any]], url: str, *, strict: bool) -> MediaMetadata:
    """Validate metadata given as ``{our name: (field name in the file, value)}``."""
    values = {ours: value for ours, (_, value) in given.items() if value is not None}
    if not values:
        return MediaMetadata()
    try:
        return MediaMetadata.model_validate(values, strict=strict)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        ours = str(error["loc"][0]) if error["loc"] else ""
        field = given[ours][0] if ours in given else ours
        reason = str(error["msg"]).replace("Input should be", "must be")[:200]
        raise BadField(field, reason, url) from None


def make_item(
    row: int,
    url: str,
    *,
    title: str | None = None,
    external_id: str | None = None,
    kind: MediaKind | None = None,
    meta: dict[str, Any] | None = None,
    given: MediaMetadata | None = None,
    media: dict[str, Any] | None = None,
) -> ManifestItem:
    """Build a ManifestItem from already-checked values."""
    return ManifestItem(
        row=row,
        url=url,
        title=title,
        external_id=external_id,
        media_kind=kind,
        client_metadata=meta if meta is not None else {},
        given=given if given is not None else MediaMetadata(),
        media_metadata=media or {},
    )
