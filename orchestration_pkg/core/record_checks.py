"""The last check of one file's catalog record before any database sees it.

What a row or a probe produced must fit the catalog's columns on every backend: integers
within the column types (width/height ``INTEGER``, size/frames ``BIGINT``), no NUL character
(PostgreSQL text and JSONB refuse it), finite numbers and 64-bit integers in the JSON columns.
A record that does not fit is that file's unit error, never a database error that would end
the batch (and the job) for everyone.
"""

from __future__ import annotations

from orchestration_pkg.core import unit_errors as ue
from orchestration_pkg.core.catalog import FileRecord
from orchestration_pkg.core.manifest.limits import MAX_ITEM_BYTES, InputLimits, LimitExceeded
from orchestration_pkg.core.manifest.limits import check_value as check_json
from orchestration_pkg.core.models import INT32_MAX, INT64_MAX
from orchestration_pkg.core.unit_errors import Failure

# Probed metadata is ours (flat dicts of the media models); the bound only guards the columns.
_PROBED = InputLimits(max_metadata_depth=8, max_metadata_bytes=MAX_ITEM_BYTES)
_INT_COLUMNS = {
    "width": INT32_MAX,
    "height": INT32_MAX,
    "size": INT64_MAX,
    "frame_count": INT64_MAX,
}
_URL_TEXT = ("object_url", "key")
_TEXT = ("etag", "content_type", "title", "external_id")


def record_problem(record: FileRecord, where: str) -> Failure | None:
    """Why ``record`` cannot be stored (as its unit error), or ``None``."""
    for name, top in _INT_COLUMNS.items():
        value = getattr(record, name)
        if value is not None and not 0 <= value <= top:
            return Failure(f"{where}: {name} {value} is out of range (0…{top})", ue.BAD_MEDIA)
    for name in _URL_TEXT:
        if "\x00" in getattr(record, name):
            return Failure(f"{where}: the object key contains a NUL character", ue.BAD_URL)
    for name in _TEXT:
        value = getattr(record, name)
        if value is not None and "\x00" in value:
            return Failure(f"{where}: {name} contains a NUL character", ue.BAD_MEDIA)
    try:
        check_json(record.media_metadata, _PROBED)
    except LimitExceeded as exc:
        return Failure(f"{where}: media metadata {exc.reason}", ue.BAD_MEDIA)
    return None
