"""Public records (folders, files, upsert counts), signed-URL guards and row conversions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import sqlalchemy as sa

from orchestration_pkg.core.catalog.schema import _JOB_COUNTS
from orchestration_pkg.core.models import JobResult, JobStatus, UnitError

_SIGNATURE_PARAMS = frozenset({"x-amz-signature", "x-goog-signature", "sig", "signature"})
_SIGNATURE_TOKENS = ("x-amz-signature", "x-goog-signature", "sig=", "signature=")
_QUERY_IN_TEXT = re.compile(r"\?[^\s'\"<>]*")

# --------------------------------------------------------------------------- data classes


@dataclass
class Folder:
    """A catalog folder, with how many files it holds and their total size."""

    id: int
    name: str
    description: str | None
    client_metadata: dict[str, Any]
    created_at: datetime
    file_count: int = 0
    total_bytes: int = 0


@dataclass
class FileRecord:
    """One registered object; ``id``/``created_at``/``updated_at`` are filled on reads only."""

    object_url: str
    key: str
    integration: str
    size: int | None = None
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
    media_kind: str | None = None
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    title: str | None = None
    external_id: str | None = None
    media_metadata: dict[str, Any] = field(default_factory=dict)
    client_metadata: dict[str, Any] = field(default_factory=dict)
    id: int | None = field(default=None, compare=False)
    created_at: datetime | None = field(default=None, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)
    removed_at: datetime | None = field(default=None, compare=False)
    """Set by a prefix sync (``on_delete: mark``) when the object left the bucket."""


@dataclass
class UpsertCounts:
    """What one or more ``upsert`` calls did, record by record."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        return self

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped


# --------------------------------------------------------------------------- URL helpers


def _query_is_signed(query: str) -> bool:
    """Whether a query string carries a signature (AWS SigV4/V2, GCS V4, Azure SAS)."""
    if not query:
        return False
    lowered = query.lower()
    if any(token in lowered for token in _SIGNATURE_TOKENS):
        return True
    names = {name.lower() for name, _ in parse_qsl(query, keep_blank_values=True)}
    return bool(names & _SIGNATURE_PARAMS)


def is_signed_url(url: str) -> bool:
    """Whether ``url`` carries a signature (S3/GCS presigned URL, Azure SAS)."""
    return _query_is_signed(urlsplit(url).query)


def _strip_query(url: str) -> str:
    """``url`` without query string and fragment (used before storing or printing)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _unsigned(url: str) -> str:
    """``url`` itself, or without its query when that query carries a signature."""
    return _strip_query(url) if is_signed_url(url) else url


def _redact_text(text: str | None) -> str | None:
    """Drop signed query strings from free text (error messages)."""
    if not text:
        return text

    def _sub(match: re.Match[str]) -> str:
        signed = _query_is_signed(match.group(0)[1:])
        return "?<signed query redacted>" if signed else match.group(0)

    return _QUERY_IN_TEXT.sub(_sub, text)


def _check_unsigned(url: str) -> None:
    """Refuse a URL carrying a signature: the catalog keeps canonical URLs only."""
    if is_signed_url(url):
        raise ValueError(
            f"refusing to store a signed URL ({_strip_query(url)}?<signed query>): "
            "store the canonical unsigned URL"
        )


# --------------------------------------------------------------------------- row helpers


def _json_dict(value: Any) -> dict[str, Any]:
    """A plain JSON-round-tripped dict (so stored and compared values look alike)."""
    if not value:
        return {}
    return json.loads(json.dumps(dict(value)))


def _file_record(row: sa.Row[Any]) -> FileRecord:
    m = row._mapping
    return FileRecord(
        object_url=m["object_url"],
        key=m["key"],
        integration=m["integration"],
        size=m["size"],
        etag=m["etag"],
        content_type=m["content_type"],
        last_modified=m["last_modified"],
        media_kind=m["media_kind"],
        width=m["width"],
        height=m["height"],
        frame_count=m["frame_count"],
        title=m["title"],
        external_id=m["external_id"],
        media_metadata=dict(m["media_metadata"] or {}),
        client_metadata=dict(m["client_metadata"] or {}),
        id=m["id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        removed_at=m["removed_at"],
    )


def _folder(row: sa.Row[Any]) -> Folder:
    m = row._mapping
    return Folder(
        id=m["id"],
        name=m["name"],
        description=m["description"],
        client_metadata=dict(m["client_metadata"] or {}),
        created_at=m["created_at"],
        file_count=int(m["file_count"] or 0),
        total_bytes=int(m["total_bytes"] or 0),
    )


def _job_result(
    row: sa.Row[Any],
    errors: list[UnitError] | None = None,
    warnings: list[UnitError] | None = None,
) -> JobResult:
    m = row._mapping
    return JobResult(
        job_id=m["id"],
        folder=m["folder"],
        integration=m["integration"],
        status=JobStatus(m["status"]),
        **{name: int(m[name] or 0) for name in _JOB_COUNTS},
        by_kind=dict(m["by_kind"] or {}),
        stats=dict(m["stats"] or {}),
        unit_errors=errors or [],
        warnings=warnings or [],
        error=m["error"],
        retry_of=m.get("retry_of"),
        created_at=m["created_at"],
        finished_at=m["finished_at"],
        owner=m.get("owner"),
        run_id=m.get("run_id"),
        started_at=m.get("started_at"),
        heartbeat_at=m.get("heartbeat_at"),
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
