"""GuardedHttpClient: GET / HEAD of user-supplied URLs, pinned to addresses the policy checked.

Redirects are followed by hand (every hop re-checked); bodies are read with a size cap.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import BinaryIO, cast
from urllib.parse import urljoin

import urllib3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError, NewConnectionError
from urllib3.util import Retry, Timeout

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.netguard.errors import network_error, status_error
from orchestration_pkg.core.netguard.pinned import (
    PinnedHTTPPool,
    PinnedHTTPSPool,
    sending_raw_target,
)
from orchestration_pkg.core.netguard.policy import NetworkPolicy, ResolvedTarget, forbidden_url
from orchestration_pkg.core.urls import shown_url

# One logger for the whole package, named as before the split into modules.
log = logging.getLogger(__package__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_MAX_BODY_BYTES = 1 << 30
RETRY_AFTER_MAX = 30
USER_AGENT = "orchestration-pkg"
_DRAIN_LIMIT = 64 * 1024


def _discard(response: urllib3.BaseHTTPResponse, no_body: bool = False) -> None:
    """Drop a response we do not read; reuse its connection only if little is left."""
    length = response.headers.get("Content-Length", "")
    if no_body or (length.isdigit() and int(length) <= _DRAIN_LIMIT):
        response.drain_conn()
    else:
        response.close()
    response.release_conn()


def _read_at_most(response: urllib3.BaseHTTPResponse, limit: int, shown: str) -> bytes:
    """Up to ``limit`` bytes of the body; close (not drain) if more is left.

    urllib3 has no body-size limit: a server ignoring ``Range`` could send gigabytes.
    """
    try:
        data = response.read(limit)
        more = bool(data) and len(data) == limit and bool(response.read(1))
    except HTTPError as exc:
        response.close()
        response.release_conn()
        raise StorageError(
            f"GET {shown}: reading the body failed ({type(exc).__name__})",
            code="Network",
            transient=True,
        ) from None
    length = response.headers.get("Content-Length", "")
    # urllib3 reports a body cut short only when asked for all of it; here a part is asked for
    short = length.isdigit() and len(data) < min(int(length), limit)
    if more or short:
        response.close()
    response.release_conn()
    if short:
        raise StorageError(
            f"GET {shown}: the body ended after {len(data)} of {length} bytes",
            code="Network",
            transient=True,
        )
    return data


class _CappedStream(io.RawIOBase):
    """A response body that fails with ``TooLarge`` past ``limit`` bytes (urllib3 has no cap)."""

    def __init__(self, response: urllib3.BaseHTTPResponse, limit: int, shown: str) -> None:
        super().__init__()
        self._response = response
        self._limit = limit
        self._shown = shown
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        try:
            data = self._response.read(min(len(view), self._limit + 1 - self._read))
        except HTTPError as exc:
            raise StorageError(
                f"GET {self._shown}: reading the body failed ({type(exc).__name__})",
                code="Network",
                transient=True,
            ) from None
        self._read += len(data)
        if self._read > self._limit:
            raise StorageError(
                f"GET {self._shown}: body is larger than the {self._limit}-byte limit",
                code="TooLarge",
            )
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class GuardedHttpClient:
    """GET / HEAD of user-supplied URLs under a :class:`NetworkPolicy` (see the package doc)."""

    def __init__(
        self,
        policy: NetworkPolicy | None = None,
        *,
        timeout: float = 10.0,
        max_redirects: int = 3,
        retries: int = 3,
        backoff_factor: float = 0.5,
        retry_after_max: int = RETRY_AFTER_MAX,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        pool_maxsize: int = 10,
        ca_certs: str | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.policy = policy or NetworkPolicy()
        self.timeout = Timeout(connect=timeout, read=timeout)
        self.max_redirects = max_redirects
        self.max_body_bytes = max_body_bytes
        self.user_agent = user_agent
        self.retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=False,  # redirects are followed by _send, re-checking every hop
            allowed_methods=frozenset({"GET", "HEAD"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff_factor,
            backoff_max=10,
            respect_retry_after_header=True,
            retry_after_max=retry_after_max,
            raise_on_status=False,
        )
        pool_kw = {"ca_certs": ca_certs} if ca_certs else {}
        self._pools = urllib3.PoolManager(num_pools=32, maxsize=pool_maxsize, **pool_kw)
        # urllib3 2.x attribute (see pinned.py; urllib3 is pinned to <3 in pyproject.toml).
        self._pools.pool_classes_by_scheme = {"http": PinnedHTTPPool, "https": PinnedHTTPSPool}

    def close(self) -> None:
        self._pools.clear()

    def pool_for(self, target: ResolvedTarget) -> HTTPConnectionPool:
        """The pool dialling the checked address; https verifies the original host name."""
        kwargs = {}
        if target.scheme == "https":
            kwargs = {"server_hostname": target.host, "assert_hostname": target.host}
        return self._pools.connection_from_host(
            target.address, target.port, target.scheme, pool_kwargs=kwargs
        )

    # -- public calls ---------------------------------------------------------------------------

    def head(self, url: str) -> Mapping[str, str]:
        """Response headers of a HEAD; ``HttpStatusError`` unless 2xx."""
        response, _ = self._send("HEAD", url)
        _discard(response, no_body=True)
        if not 200 <= response.status < 300:
            raise status_error("HEAD", url, response.status, response.headers)
        return response.headers

    def get_range(self, url: str, start: int, length: int) -> tuple[bytes, Mapping[str, str]]:
        """``length`` bytes from ``start`` and the headers (206: ``Content-Range`` is set).

        A 200 answer means the server ignores ``Range``: the body is read only up to
        ``start + length`` bytes (within ``max_body_bytes``) and the connection is closed.
        """
        if start < 0 or length <= 0:
            raise ValueError("get_range needs start >= 0 and length > 0")
        end = start + length - 1
        response, target = self._send("GET", url, {"Range": f"bytes={start}-{end}"})
        if response.status == 206:
            return _read_at_most(response, length, target.shown), response.headers
        if response.status != 200:
            _discard(response)
            raise status_error("GET", url, response.status, response.headers)
        if start + length > self.max_body_bytes:
            response.close()
            response.release_conn()
            raise StorageError(
                f"GET {target.shown}: the server ignores Range; refusing to download "
                f"{start + length} bytes to reach offset {start}",
                code="TooLarge",
            )
        data = _read_at_most(response, start + length, target.shown)
        return data[start:], response.headers

    def stream(self, url: str) -> BinaryIO:
        """The whole body as a read-only stream, capped at ``max_body_bytes``; close it."""
        response, target = self._send("GET", url)
        if response.status != 200:
            _discard(response)
            raise status_error("GET", url, response.status, response.headers)
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            response.close()
            response.release_conn()
            raise StorageError(
                f"GET {target.shown}: body of {length} bytes exceeds the "
                f"{self.max_body_bytes}-byte limit",
                code="TooLarge",
            )
        raw = _CappedStream(response, self.max_body_bytes, target.shown)
        return cast(BinaryIO, io.BufferedReader(raw))

    # -- plumbing -------------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> tuple[urllib3.BaseHTTPResponse, ResolvedTarget]:
        """Send ``method url``, following up to ``max_redirects`` redirects by hand.

        urllib3 would follow redirects without the policy check and without pinning.
        """
        current = url
        for hop in range(self.max_redirects + 1):
            targets = self._check_hop(url, current, hop)
            response, target = self._open(method, targets, headers or {})
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response, target
            _discard(response, no_body=method == "HEAD")
            following = urljoin(current, location)
            if current.lower().startswith("https:") and following.lower().startswith("http:"):
                reason = f"redirect from {shown_url(current)} downgrades https to http"
                raise forbidden_url(following, reason)
            log.debug("redirect %d: %s -> %s", response.status, target.shown, shown_url(following))
            if response.status == 303 and method != "HEAD":
                method = "GET"
            current = following
        raise StorageError(
            f"{method} {shown_url(url)}: more than {self.max_redirects} redirect(s)",
            code="TooManyRedirects",
        )

    def _check_hop(self, first: str, url: str, hop: int) -> list[ResolvedTarget]:
        if hop == 0:
            return self.policy.check_url(url)
        try:
            return self.policy.check_url(url)
        except StorageError as err:
            raise StorageError(
                f"redirect from {shown_url(first)}: {err}", code=err.code, transient=err.transient
            ) from None

    def _open(
        self, method: str, targets: list[ResolvedTarget], extra: Mapping[str, str]
    ) -> tuple[urllib3.BaseHTTPResponse, ResolvedTarget]:
        """Try each checked address in turn until one accepts the connection.

        By hand because urllib3 would resolve the name again (and try its addresses itself);
        here every pool is pinned to one address that passed the policy.
        """
        failure: StorageError | None = None
        for target in targets:
            headers = {
                "Host": target.host_header,
                "User-Agent": self.user_agent,
                "Accept-Encoding": "identity",
                **extra,
            }
            log.debug("%s %s via %s", method, target.shown, target.address)
            try:
                with sending_raw_target(target.target):
                    response = self.pool_for(target).urlopen(
                        method,
                        target.path,
                        headers=headers,
                        retries=self.retry,
                        redirect=False,
                        assert_same_host=False,
                        timeout=self.timeout,
                        preload_content=False,
                        decode_content=False,
                    )
                return response, target
            except MaxRetryError as exc:
                failure = network_error(exc, method, target)
                if not isinstance(exc.reason, (NewConnectionError, ConnectTimeoutError)):
                    break
            except HTTPError as exc:
                failure = network_error(exc, method, target)
                break
        assert failure is not None
        raise failure
