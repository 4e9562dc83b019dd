"""Direct access: user-supplied pre-signed or unsigned http(s) URLs, fetched as given.

The object "key" is the URL exactly as written in the manifest, query string included: a
pre-signed URL's query is sent byte-for-byte (never re-encoded) and never stored, logged or
shown. The catalog stores :meth:`DirectStorage.canonical_url` / :meth:`record_key`, the URL
without its query. Every fetch goes through :mod:`orchestration_pkg.core.netguard` (SSRF
policy, pinned connections, checked redirects). With ``strict_client_only`` nothing is ever
fetched: the manifest must carry each row's metadata.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import BinaryIO

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.netguard import GuardedHttpClient, HttpStatusError, NetworkPolicy
from orchestration_pkg.core.providers.direct.access import DirectAccess
from orchestration_pkg.core.providers.direct.config import DirectIntegrationConfig
from orchestration_pkg.core.providers.direct.errors import (
    LIST_MESSAGE,
    SIGN_MESSAGE,
    STRICT_MESSAGE,
    raise_explained,
)
from orchestration_pkg.core.providers.direct.urls import parse_direct_url
from orchestration_pkg.core.retry import retried
from orchestration_pkg.core.storage import RangeRead, total_size
from orchestration_pkg.core.urls import redact_url, shown_url

log = logging.getLogger(__name__)

HEAD_FALLBACK_STATUSES = frozenset({403, 405})


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _last_modified(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    return value.removeprefix("W/").strip('"') or None


def _info(key: str, headers: Mapping[str, str], size: int | None) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=size,
        etag=_etag(headers.get("ETag")),
        content_type=headers.get("Content-Type"),
        last_modified=_last_modified(headers.get("Last-Modified")),
    )


class DirectStorage(DirectAccess):
    """``Storage`` over user-supplied URLs of a ``DirectIntegrationConfig`` (never signs)."""

    provider = "direct"

    def __init__(
        self, config: DirectIntegrationConfig, *, client: GuardedHttpClient | None = None
    ) -> None:
        self.config = config
        self.retry_policy = config.retry.policy()
        self.name = config.name
        self.strict_client_only = config.strict_client_only
        self.policy = NetworkPolicy(config.allow_hosts)
        self._client = client

    def __repr__(self) -> str:
        return (
            f"DirectStorage(name={self.name!r}, strict_client_only={self.strict_client_only}, "
            f"allow_hosts={self.config.allow_hosts!r})"
        )

    @property
    def client(self) -> GuardedHttpClient:
        """The guarded HTTP client (built on first use; never in strict client-only mode)."""
        if self.strict_client_only:
            raise StorageError(STRICT_MESSAGE, code="StrictClientOnly")
        if self._client is None:
            self._client = GuardedHttpClient(
                self.policy,
                timeout=self.config.timeout_seconds,
                max_redirects=self.config.max_redirects,
                pool_maxsize=self.config.max_pool_connections,
                retries=0,  # core/retry.py's one policy retries every request
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def parse_url(self, url: str) -> str:
        """``url`` itself (the key), after syntax, ``url_prefixes`` and the network policy's
        checks that need no DNS (IP literals, localhost), whatever the fetch mode; no network.
        A refused URL raises ``StorageError(code="Forbidden")``."""
        key = parse_direct_url(url, self.config.url_prefixes)
        self.policy.check_without_dns(key)
        return key

    def canonical_url(self, key: str) -> str:
        """The URL without query (no signature), fragment or user info: what is stored."""
        return redact_url(key)

    def record_key(self, key: str) -> str:
        """The catalog's key column: the canonical URL, never a signed query string."""
        return redact_url(key)

    # -- reads ----------------------------------------------------------------------------------

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Direct access cannot list: ``StorageError(code="Unsupported")``."""
        raise StorageError(LIST_MESSAGE, code="Unsupported")

    def sign(self, key: str, ttl_seconds: int = 3600, *, min_ttl: int = 0) -> str:
        """Direct access never signs: ``StorageError(code="Unsupported")``."""
        raise StorageError(SIGN_MESSAGE, code="Unsupported")

    @retried
    def head(self, key: str) -> ObjectInfo:
        """HEAD; a 403/405 answer (GET-only pre-signed URLs) falls back to a 1-byte GET."""
        return self._head(key)[0]

    @retried
    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """``length`` bytes from ``start``; ``info.size`` is the whole object's size."""
        return self._read_range(key, start, length)[0]

    @retried
    def open_stream(self, key: str) -> BinaryIO:
        """The streaming body of a GET (size-capped); the caller closes it."""
        self._require_network("GET", key)
        try:
            return self.client.stream(key)
        except HttpStatusError as err:
            raise_explained(err, key)

    def _require_network(self, operation: str, key: str) -> None:
        if self.strict_client_only:
            raise StorageError(
                f"{STRICT_MESSAGE} ({operation} {shown_url(key)})", code="StrictClientOnly"
            )

    def _head(self, key: str) -> tuple[ObjectInfo, str]:
        self._require_network("HEAD", key)
        try:
            headers = self.client.head(key)
        except HttpStatusError as err:
            if err.status not in HEAD_FALLBACK_STATUSES:
                raise_explained(err, key)
            log.debug("HEAD %s answered %d; trying a 1-byte GET", shown_url(key), err.status)
            read, _ = self._read_range(key, 0, 1)
            return read.info, f"HEAD answered {err.status}; used a 1-byte ranged GET"
        return _info(self.record_key(key), headers, _content_length(headers)), "HEAD"

    def _read_range(self, key: str, start: int, length: int) -> tuple[RangeRead, bool]:
        """The read and whether the server honoured ``Range`` (206)."""
        if start < 0 or length <= 0:
            raise ValueError("read_range needs start >= 0 and length > 0")
        self._require_network("GET", key)
        try:
            data, headers = self.client.get_range(key, start, length)
        except HttpStatusError as err:
            if err.status == 416 and self._is_empty(key, err):
                return RangeRead(b"", ObjectInfo(key=self.record_key(key), size=0)), True
            raise_explained(err, key)
        ranged = "Content-Range" in headers
        size = total_size(headers.get("Content-Range")) if ranged else _content_length(headers)
        return RangeRead(data, _info(self.record_key(key), headers, size)), ranged

    def _is_empty(self, key: str, err: HttpStatusError) -> bool:
        """A 416 for a zero-byte object (any range of it is unsatisfiable)."""
        total = total_size(err.headers.get("Content-Range"))
        if total is not None:
            return total == 0
        try:  # a plain HEAD: the HEAD fallback reads a range and could land here again
            return _content_length(self.client.head(key)) == 0
        except StorageError:
            return False
