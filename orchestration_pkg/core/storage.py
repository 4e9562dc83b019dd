"""The one protocol every integration implements (:class:`Storage`) and its small types."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.retry import RetryPolicy

MIN_SIGN_TTL = 15 * 60
MAX_SIGN_TTL = 24 * 60 * 60
# The shortest lifetime the signed-URL gateway may ask for (its redirects are used at once).
MIN_REDIRECT_TTL = 60

# ``bytes FIRST-LAST/TOTAL``, ``bytes */TOTAL`` (416 answers); some emulators send odd ranges.
_CONTENT_RANGE = re.compile(r"^bytes\s+\S+/(\d+|\*)\s*$")


def clamp_ttl(ttl_seconds: int, minimum: int = MIN_SIGN_TTL) -> int:
    """Clamp a signed-URL lifetime to 15 minutes (or ``minimum``, never below a minute) … 24 h."""
    floor = max(MIN_REDIRECT_TTL, min(MIN_SIGN_TTL, int(minimum)))
    return max(floor, min(MAX_SIGN_TTL, int(ttl_seconds)))


def strip_etag(etag: str | None) -> str | None:
    """The ETag without its surrounding double quotes."""
    return etag.strip('"') if etag else etag


def total_size(content_range: str | None) -> int | None:
    """Total object size from ``Content-Range: bytes a-b/TOTAL`` or ``bytes */TOTAL``.

    ``None`` when the header is missing, malformed or the total is unknown (``*``).
    """
    match = _CONTENT_RANGE.match(content_range or "")
    if not match or match.group(1) == "*":
        return None
    return int(match.group(1))


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
    """A configured integration (bucket + optional prefix, or direct URLs) the engine reads.

    Every provider implements all of it: the engine, the manifest sensor, the CLI and the
    Dagster assets call these and nothing else. What a provider cannot do (direct access
    cannot list or sign) raises ``StorageError(code="Unsupported")``.
    """

    name: str
    """The integration's name (from the config)."""
    provider: str
    """The registry name of the provider: ``s3``, ``gcs``, ``azure``, ``direct``..."""
    strict_client_only: bool
    """True when nothing may be fetched: every manifest row must carry its metadata."""
    retry_policy: RetryPolicy
    """How every request is retried (core/retry.py); the SDK's own retries are off."""

    def parse_url(self, url: str) -> str:
        """Return the object key of ``url``; raise ``UrlError`` if it is not ours."""

    def canonical_url(self, key: str) -> str:
        """The unsigned URL stored in the catalog for ``key`` (e.g. ``s3://bucket/key``)."""

    def record_key(self, key: str) -> str:
        """The catalog's key column for ``key`` (never a signed query string)."""

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Yield objects under the integration prefix + ``prefix``, paginated, in key order."""

    def head(self, key: str) -> ObjectInfo:
        """Object facts; raises ``StorageError(code='NotFound')`` when missing."""

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """Read ``length`` bytes from ``start`` (fewer at the end of the object)."""

    def open_stream(self, key: str) -> BinaryIO:
        """A streaming, read-only binary file object over the whole object (manifests)."""

    def sign(self, key: str, ttl_seconds: int = 3600, *, min_ttl: int = MIN_SIGN_TTL) -> str:
        """A GET URL valid for ``clamp_ttl(ttl_seconds, min_ttl)``; never stored or logged.

        ``min_ttl`` below 15 minutes (never below ``MIN_REDIRECT_TTL``) is for the gateway,
        whose redirects are followed at once; everything users keep gets at least 15 minutes.
        """

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe list / head / ranged read / sign separately and diagnose each."""

    def setup_guide(
        self, origins: list[str], max_age: int = 3600, *, principal: str | None = None
    ) -> dict[str, Any]:
        """What the storage owner applies: access policy, CORS for ``origins``, notes.

        ``principal`` names the identity being granted access, in the provider's terms (S3:
        the ARN that assumes the role; GCS: an IAM member; Azure: a principal object id);
        a loud placeholder stands in when it is not given.
        """
