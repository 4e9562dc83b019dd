"""The one retry policy: every storage request of every provider goes through it.

The SDKs' own retry layers are switched off (botocore ``total_max_attempts=1``, google
``retry=None``, azure ``retry_total=0``, urllib3 ``Retry(0)``) so that retries never stack:
a request is tried at most ``max_attempts`` times, with jittered exponential backoff, and only
for transient errors (:attr:`StorageError.transient`). One exception is hard-wired in
azure-storage-blob: its download re-requests a body cut short up to 3 times, 1 s apart, within
one of our attempts. The engine opens a per-object
:func:`deadline` around everything one file costs (HEAD, ranged reads): once it has passed, no
new attempt starts and backoff sleeps are cut short, whatever the provider.

Hand-written because each SDK retries differently (botocore counts attempts, google-api-core
only has a deadline, azure-core and urllib3 count retries) and none of them shares a deadline
across several requests.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from orchestration_pkg.core.errors import StorageError

log = logging.getLogger(__name__)
T = TypeVar("T")

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "orchestration_pkg_retry_deadline", default=None
)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per request, backoff, and the time budget of one object."""

    max_attempts: int = 4
    backoff_seconds: float = 0.25
    max_backoff_seconds: float = 8.0
    object_deadline_seconds: float = 120.0
    read_timeout_seconds: float = 30.0  # per request (S3, GCS, Azure clients)

    def delay(self, attempt: int) -> float:
        """Jittered exponential backoff after failed attempt ``attempt`` (1-based)."""
        base = min(self.max_backoff_seconds, self.backoff_seconds * (2 ** (attempt - 1)))
        return base * (0.5 + random.random() / 2)

    def call(self, fn: Callable[[], T], *, what: str = "") -> T:
        """``fn()`` retried on transient :class:`StorageError` within attempts and deadline.

        ``what`` names the target in logs; it must never carry a signed query string.
        """
        attempt = 1
        while True:
            try:
                return fn()
            except StorageError as exc:
                self._wait_or_raise(exc, attempt, what)
                attempt += 1

    def iterate(
        self,
        list_from: Callable[[str], Iterator[T]],
        start_after: str,
        key_of: Callable[[T], str],
        *,
        what: str = "",
    ) -> Iterator[T]:
        """Items of a key-ordered listing, resumed after the last key yielded on a transient
        error; ``max_attempts`` counts consecutive failures without progress."""
        attempt, last = 1, start_after
        while True:
            try:
                for item in list_from(last):
                    yield item
                    last, attempt = key_of(item), 1
                return
            except StorageError as exc:
                self._wait_or_raise(exc, attempt, what)
                attempt += 1

    def _wait_or_raise(self, exc: StorageError, attempt: int, what: str) -> None:
        """Sleep before the next attempt, or re-raise ``exc`` when no attempt is left."""
        if not exc.transient or attempt >= self.max_attempts:
            raise exc
        wait = self.delay(attempt)
        left = remaining()
        if left is not None and left <= wait:
            raise exc
        log.info("retrying %s after %s (attempt %d)", what, exc.code, attempt)
        time.sleep(wait)


NO_RETRY = RetryPolicy(max_attempts=1)


def remaining() -> float | None:
    """Seconds left of the current object's deadline (None outside :func:`deadline`)."""
    until = _deadline.get()
    return None if until is None else until - time.monotonic()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every retried request inside this block shares one deadline ``seconds`` from now.

    Nested blocks keep the earlier (tighter) deadline.
    """
    until = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(until if outer is None else min(outer, until))
    try:
        yield
    finally:
        _deadline.reset(token)


def retried(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate a storage method ``(self, key, ...)``: one request under ``self.retry_policy``."""

    @functools.wraps(method)
    def wrapper(self: Any, key: str, *args: Any, **kwargs: Any) -> T:
        return self.retry_policy.call(
            lambda: method(self, key, *args, **kwargs), what=self.canonical_url(key)
        )

    return wrapper


def retried_listing(method: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
    """Decorate ``list(self, prefix, start_after)``: resumed after the last key on errors."""

    @functools.wraps(method)
    def wrapper(self: Any, prefix: str = "", start_after: str = "") -> Iterator[T]:
        return self.retry_policy.iterate(
            lambda after: method(self, prefix, after),
            start_after,
            lambda info: info.key,
            what=self.canonical_url(self.prefix + prefix),
        )

    return wrapper
