"""Pinned urllib3 pools whose connections send the raw request target.

The pools are given the path only (so urllib3 never logs, retries or raises with a query
string); the full target is put on the request line at the last moment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_raw_target = threading.local()


class _RawTargetMixin:
    """Puts the raw request target on the request line.

    urllib3 re-encodes request targets (``%2f`` → ``%2F``, and characters it deems unsafe),
    which breaks signatures computed over the exact bytes, and it logs and raises with the
    target it was given. It is given the path only; the full target (with the query) is
    swapped in here, at the last moment, from a thread-local set around ``urlopen``.

    Relies on urllib3 2.x internals (``HTTPConnection.putrequest``'s signature, the pools'
    ``ConnectionCls`` and ``PoolManager.pool_classes_by_scheme``): urllib3 is pinned to <3
    in pyproject.toml for it.
    """

    def putrequest(
        self, method: str, url: str, skip_host: bool = False, skip_accept_encoding: bool = False
    ) -> None:
        target = getattr(_raw_target, "value", None) or url
        super().putrequest(method, target, skip_host, skip_accept_encoding)  # type: ignore[misc]


class _RawHTTPConnection(_RawTargetMixin, HTTPConnection):
    pass


class _RawHTTPSConnection(_RawTargetMixin, HTTPSConnection):
    pass


class PinnedHTTPPool(HTTPConnectionPool):
    """An http pool whose connections send the raw target (dialled at one checked address)."""

    ConnectionCls = _RawHTTPConnection


class PinnedHTTPSPool(HTTPSConnectionPool):
    """An https pool whose connections send the raw target (dialled at one checked address)."""

    ConnectionCls = _RawHTTPSConnection


@contextmanager
def sending_raw_target(target: str) -> Iterator[None]:
    """Within the block, connections of this thread put ``target`` on the request line."""
    _raw_target.value = target
    try:
        yield
    finally:
        _raw_target.value = None
