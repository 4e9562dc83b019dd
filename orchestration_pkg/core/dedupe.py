"""Identical rows of one job are registered once: 10,000 copies of a row cost one probe.

A row's identity is its object (the storage key) and everything it says about it (title,
external id, kind, client metadata, given metadata); its row number does not count. Rows that
name the same object but say different things are all kept (the last one wins in the catalog,
as before). Identities are remembered as 128-bit BLAKE2b digests (about 100 bytes each), for
at most :data:`MAX_REMEMBERED` distinct rows per job: past that, memory stays flat and later
copies are simply registered again (idempotent, only slower).
"""

from __future__ import annotations

import hashlib
import json

from orchestration_pkg.core.models import ManifestItem

MAX_REMEMBERED = 1_000_000
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


class RowDeduper:
    """Remembers the rows of one job; :meth:`repeated` says whether a row was seen before."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._seen: set[int] = set()
        self._limit = limit
        self.duplicates = 0

    def repeated(self, key: str, item: ManifestItem) -> bool:
        """True (and counted) if an identical row for ``key`` came earlier in this job."""
        digest = _identity(key, item)
        if digest in self._seen:
            self.duplicates += 1
            return True
        if len(self._seen) < self._limit:
            self._seen.add(digest)
        return False


def _identity(key: str, item: ManifestItem) -> int:
    given = {name: value for name, value in item.given.__dict__.items() if value is not None}
    kind = item.media_kind.value if item.media_kind else ""
    text = _CANONICAL.encode([key, item.title, item.external_id, kind, item.client_metadata, given])
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return int.from_bytes(digest, "little")
