"""The one protocol every integration implements: list, head, read_range, sign, check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from orchestration_pkg.core.models import ObjectInfo

MIN_SIGN_TTL = 15 * 60
MAX_SIGN_TTL = 24 * 60 * 60

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def clamp_ttl(ttl_seconds: int) -> int:
    """Clamp a signed-URL lifetime to 15 minutes … 24 hours."""
    return max(MIN_SIGN_TTL, min(MAX_SIGN_TTL, int(ttl_seconds)))


def strip_etag(etag: str | None) -> str | None:
    """The ETag without its surrounding double quotes."""
    return etag.strip('"') if etag else etag


def total_size(content_range: str | None) -> int | None:
    """Total object size from ``Content-Range: bytes a-b/TOTAL`` (None if unknown)."""
    match = _CONTENT_RANGE.match(content_range or "")
    if not match or match.group(3) == "*":
        return None
    return int(match.group(3))


@dataclass(frozen=True)
class RangeRead:
    """Bytes of a ranged GET plus what the response said about the whole object."""

    data: bytes
    info: ObjectInfo


@dataclass(frozen=True)
class AccessCheck:
    """One permission probe of ``check``: what was tried, whether it worked, and the fix.

    ``skipped``: the probe could not run (an earlier step failed, nothing to probe, not
    applicable); ``detail`` says why. A skipped row is neither a pass nor a failure. Rows whose
    detail starts with ``not tried`` or ``skipped`` are marked skipped even if built without it.
    """

    permission: str
    ok: bool
    detail: str = ""
    fix: str = ""
    skipped: bool = False

    def __post_init__(self) -> None:
        if not self.skipped and self.detail.startswith(("not tried", "skipped")):
            object.__setattr__(self, "skipped", True)


@runtime_checkable
class Storage(Protocol):
    """A configured integration (bucket + optional prefix) the engine can read from."""

    name: str
    provider: str

    def parse_url(self, url: str) -> str:
        """Return the object key of ``url``; raise ``UrlError`` if it is not ours."""

    def canonical_url(self, key: str) -> str:
        """The unsigned URL stored in the catalog for ``key`` (e.g. ``s3://bucket/key``)."""

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Yield objects under the integration prefix + ``prefix``, paginated, in key order."""

    def head(self, key: str) -> ObjectInfo:
        """Object facts; raises ``StorageError(code='NotFound')`` when missing."""

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """Read ``length`` bytes from ``start`` (fewer at the end of the object)."""

    def open_stream(self, key: str) -> BinaryIO:
        """A streaming, read-only binary file object over the whole object (manifests)."""

    def sign(self, key: str, ttl_seconds: int = 3600) -> str:
        """A GET URL valid for ``clamp_ttl(ttl_seconds)``; never stored or logged."""

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe list / head / ranged read / sign separately and diagnose each."""
