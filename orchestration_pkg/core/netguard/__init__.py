"""SSRF protection for every outbound HTTP fetch of a user-supplied URL.

:class:`NetworkPolicy` decides whether a URL may be fetched: http(s) only, no user info, and
every address its host resolves to must be public unless ``allow_hosts`` says otherwise
(loopback, link-local / cloud metadata, private, CGNAT, multicast, reserved and unspecified
addresses are refused, also in IPv4-mapped, NAT64 and 6to4 forms).

:class:`GuardedHttpClient` fetches only what the policy allowed, with urllib3:

* it connects to the address that was checked (pinned: no second DNS lookup, so DNS
  rebinding cannot swap in an internal address) and sends the original ``Host`` header and,
  for https, the original name as SNI and for certificate verification;
* it follows redirects itself, re-checking every hop, and refuses https → http downgrades;
* it sends the request target byte-for-byte as given (pre-signed query strings are signed
  over the exact bytes) and never hands the query string to urllib3, so urllib3's log lines,
  retry history and exceptions cannot leak a signature;
* retries, backoff and ``Retry-After`` are urllib3's :class:`~urllib3.util.Retry`.

Messages never contain a query string, fragment or user info: URLs go through ``redact_url``.
"""

from __future__ import annotations

import http
import io
import ipaddress
import logging
import re
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, cast
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Retry, Timeout

from orchestration_pkg.core.errors import ConfigError, StorageError
from orchestration_pkg.core.urls import shown_url

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_MAX_BODY_BYTES = 1 << 30
RETRY_AFTER_MAX = 30
USER_AGENT = "orchestration-pkg"

# Cloud instance metadata endpoints (AWS/GCP/Azure/OCI, AWS ECS and IPv6 IMDS, Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "fd00:ec2::254",
        "100.100.100.200",
    )
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_DRAIN_LIMIT = 64 * 1024
# RFC 3986 characters (unreserved, reserved) plus "%" for escapes; anything else is refused
# rather than re-encoded, since re-encoding would break a signature computed over the bytes.
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST_NAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$")


# ---------------------------------------------------------------------------------------------
# URL syntax
# ---------------------------------------------------------------------------------------------


def url_syntax_problem(url: str) -> str | None:
    """Why ``url`` cannot be sent byte-for-byte on an HTTP request line (None: it can)."""
    for char in url:
        if char == " ":
            return "URL is not percent-encoded: encode spaces as %20"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return "URL contains a control character: percent-encode it"
        if ord(char) > 0x7E:
            return "URL is not percent-encoded: encode non-ASCII characters as UTF-8 (é as %C3%A9)"
        if not _URL_CHARS.match(char):
            code = f"%{ord(char):02X}"
            return f"character {char!r} is not allowed in a URL: percent-encode it as {code}"
    if _BAD_ESCAPE.search(url):
        return "bad percent-escape: '%' must be followed by two hex digits"
    return None


def _invalid(url: str, reason: str) -> StorageError:
    return StorageError(f"{shown_url(url)}: {reason}", code="InvalidUrl")


def _forbidden(url: str, reason: str) -> StorageError:
    return StorageError(f"refused {shown_url(url)}: {reason}", code="Forbidden")


@dataclass(frozen=True)
class _UrlParts:
    scheme: str
    host: str
    port: int
    explicit_port: bool
    target: str


def _split(url: str) -> _UrlParts:
    """Scheme, host, port and raw request target (path + query exactly as written)."""
    if not isinstance(url, str) or not url:
        raise StorageError("URL is empty or not a string", code="InvalidUrl")
    problem = url_syntax_problem(url)
    if problem:
        raise _invalid(url, problem)
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise _forbidden(url, "not an http(s) URL")
    if scheme.lower() not in ALLOWED_SCHEMES:
        raise _forbidden(url, f"scheme {scheme[:20]!r} is not allowed (http and https only)")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        raise _forbidden(url, "user name or password in the URL is not allowed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid(url, "malformed host or port") from None
    host = (parts.hostname or "").lower()
    if not host or not _valid_host(host):
        raise _invalid(url, "no valid host in URL")
    if port == 0:
        raise _invalid(url, "port 0 is not a valid port")
    scheme = scheme.lower()
    target = rest[len(netloc) :].split("#", 1)[0]
    if not target.startswith("/"):
        target = "/" + target
    return _UrlParts(scheme, host, port or DEFAULT_PORTS[scheme], port is not None, target)


def _valid_host(host: str) -> bool:
    if ":" in host:  # only IPv6 literals contain ':' once urlsplit removed the port
        return _ip(host) is not None
    return bool(_HOST_NAME.match(host))


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Address classification
# ---------------------------------------------------------------------------------------------


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside IPv4-mapped, NAT64 or 6to4 IPv6 addresses."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched by default (None: a public unicast address)."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        problem = address_problem(inner)
        if problem:
            return f"{problem}, embedded in IPv6 as {inner}"
    reason = _base_problem(address)
    if reason and address in METADATA_ADDRESSES:
        return f"{reason}; cloud metadata service"
    return reason


def _base_problem(address: IPAddress) -> str | None:
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address in _CGNAT, "shared address space (CGNAT)"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for flagged, reason in checks if flagged), None)


def shown_address(address: IPAddress) -> str:
    """``address`` as people write it (IPv4-mapped as ``::ffff:1.2.3.4``)."""
    inner = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return f"::ffff:{inner}" if inner else str(address)


def _connect_address(address: IPAddress) -> str:
    """The address to dial: IPv4-mapped IPv6 is dialled as plain IPv4."""
    inner = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(inner or address)


# ---------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ResolvedTarget:
    """One checked address of a URL: where to connect and what to send (pinned)."""

    url: str  # may carry a signed query string: never log it
    scheme: str
    host: str  # lower-case host name or IP literal, no brackets
    port: int
    explicit_port: bool
    address: str  # the checked IP the connection goes to
    problem: str | None  # non-public address allowed by allow_hosts (None: public)
    target: str  # raw request target: path + query exactly as written

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host

    @property
    def path(self) -> str:
        """The request target without its query (what urllib3 is shown)."""
        return self.target.split("?", 1)[0]

    @property
    def shown(self) -> str:
        return shown_url(self.url)

    def __repr__(self) -> str:
        return f"ResolvedTarget({self.shown!r} -> {self.address})"


class NetworkPolicy:
    """Which URLs may be fetched: public addresses, plus whatever ``allow_hosts`` lists.

    ``allow_hosts`` entries are host names (exact, case-insensitive), ``*.example.com``
    wildcards (subdomains only) or IP addresses / CIDRs. A name entry allows every address
    its host resolves to, except cloud metadata addresses, which only an address or CIDR
    entry can allow (a DNS record under someone else's control must not open them).
    """

    def __init__(self, allow_hosts: Iterable[str] = ()) -> None:
        self.allow_hosts = list(allow_hosts)
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[IPNetwork] = []
        for entry in self.allow_hosts:
            self._add(entry)

    def __repr__(self) -> str:
        return f"NetworkPolicy(allow_hosts={self.allow_hosts!r})"

    def _add(self, entry: str) -> None:
        text = str(entry).strip().lower().rstrip(".")
        try:
            self._networks.append(_unmapped(ipaddress.ip_network(text.strip("[]"), strict=False)))
            return
        except ValueError:
            pass
        if text.startswith("*.") and _HOST_NAME.match(text[2:]):
            self._suffixes.append(text[1:])
        elif _HOST_NAME.match(text) and "*" not in text:
            self._names.add(text)
        else:
            raise ConfigError(
                f"allow_hosts: invalid entry {str(entry)[:80]!r} "
                "(use a host name, *.domain wildcard, IP address or CIDR)"
            )

    def allows_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self._names or any(name.endswith(s) for s in self._suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        inner = _embedded_ipv4(address)
        return any(address in net or (inner is not None and inner in net) for net in self._networks)

    def check_url(self, url: str) -> list[ResolvedTarget]:
        """Validate and resolve ``url``; raise ``StorageError(code='Forbidden')`` if refused.

        Every resolved address must be public or allowed: one bad address refuses the URL.
        """
        parts = _split(url)
        addresses = resolve(parts.host, parts.port, url)
        by_name = self.allows_name(parts.host)
        targets = []
        for address in addresses:
            problem = address_problem(address)
            allowed = self.allows_address(address) or (
                by_name and address not in METADATA_ADDRESSES
            )
            if problem and not allowed:
                raise self._refusal(url, address, problem, by_name)
            targets.append(
                ResolvedTarget(
                    url=url,
                    scheme=parts.scheme,
                    host=parts.host,
                    port=parts.port,
                    explicit_port=parts.explicit_port,
                    address=_connect_address(address),
                    problem=problem,
                    target=parts.target,
                )
            )
        return targets

    @staticmethod
    def _refusal(url: str, address: IPAddress, problem: str, by_name: bool) -> StorageError:
        hint = (
            "allow_hosts name entries never cover cloud metadata addresses; "
            "list the address itself if intended"
            if by_name
            else "allow it with allow_hosts if intended"
        )
        shown = shown_address(address)
        log.warning("refused %s: resolves to %s (%s)", shown_url(url), shown, problem)
        return _forbidden(url, f"resolves to {shown} ({problem}); {hint}")


def _unmapped(network: IPNetwork) -> IPNetwork:
    """An IPv4-mapped IPv6 network (``::ffff:10.0.0.0/104``) as the IPv4 network it maps."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        first = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network((first, network.prefixlen - 96))
    return network


def resolve(host: str, port: int, url: str = "") -> list[IPAddress]:
    """Every address ``host`` resolves to, in resolver order, without duplicates.

    IP literals in any form the C library accepts (``2130706433``, ``0x7f000001``,
    ``127.1``, ``[::ffff:127.0.0.1]``) are normalised here, without a DNS query.
    """
    shown = shown_url(url) if url else host
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        transient = exc.errno == socket.EAI_AGAIN
        raise StorageError(
            f"{shown}: cannot resolve host {host} ({exc.strerror or 'lookup failed'})",
            code="Network",
            transient=transient,
        ) from None
    except UnicodeError:
        raise _invalid(url or host, "host name is not valid") from None
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        address = _ip(str(sockaddr[0])) if family in (socket.AF_INET, socket.AF_INET6) else None
        if address is not None and address not in found:
            found.append(address)
    if not found:
        raise StorageError(f"{shown}: host {host} has no IP address", code="Network")
    return found


# ---------------------------------------------------------------------------------------------
# Errors of HTTP answers
# ---------------------------------------------------------------------------------------------


class HttpStatusError(StorageError):
    """A non-success HTTP answer; ``status`` and the response ``headers`` are kept."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        headers: Mapping[str, str] | None = None,
        code: str = "HttpError",
        transient: bool = False,
    ) -> None:
        super().__init__(message, code=code, transient=transient)
        self.status = status
        self.headers: Mapping[str, str] = headers if headers is not None else {}


def classify_status(status: int) -> tuple[str, bool]:
    """Map an HTTP status to ``(code, transient)``."""
    if status in (404, 410):
        return "NotFound", False
    if status in (401, 403):
        return "AccessDenied", False
    if status == 416:
        return "InvalidRange", False
    if status in (429, 503):
        return "Throttled", True
    if status >= 500 and status not in (501, 505):
        return "ServerError", True
    return "HttpError", False


def status_error(
    method: str, url: str, status: int, headers: Mapping[str, str] | None = None
) -> HttpStatusError:
    """The ``HttpStatusError`` of an answer ``status`` to ``method url``."""
    code, transient = classify_status(status)
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "unknown status"
    return HttpStatusError(
        f"{method} {shown_url(url)}: HTTP {status} {phrase}",
        status=status,
        headers=headers,
        code=code,
        transient=transient,
    )


def _network_error(exc: BaseException, method: str, target: ResolvedTarget) -> StorageError:
    """A urllib3 failure as ``StorageError``: the cause's type name only, never its text."""
    reason = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
    name = type(reason).__name__
    where = f"{target.host_header} ({target.address})"
    if isinstance(reason, SSLError):
        return StorageError(
            f"{method} {target.shown}: TLS handshake or certificate check failed with {where} "
            f"({name})",
            code="TLS",
        )
    kind = "timed out" if isinstance(reason, (Urllib3Timeout, TimeoutError)) else "failed"
    return StorageError(
        f"{method} {target.shown}: connection to {where} {kind} ({name})",
        code="Network",
        transient=True,
    )


# ---------------------------------------------------------------------------------------------
# Pinned urllib3 pools that send the raw request target
# ---------------------------------------------------------------------------------------------

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


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _RawHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _RawHTTPSConnection


@contextmanager
def _sending(target: str) -> Iterator[None]:
    _raw_target.value = target
    try:
        yield
    finally:
        _raw_target.value = None


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
    if more:
        response.close()
    response.release_conn()
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
    """GET / HEAD of user-supplied URLs under a :class:`NetworkPolicy` (see module doc)."""

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
        # urllib3 2.x attribute (see _RawTargetMixin; urllib3 pinned to <3 in pyproject.toml).
        self._pools.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}

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
                raise _forbidden(following, reason)
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
                with _sending(target.target):
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
                failure = _network_error(exc, method, target)
                if not isinstance(exc.reason, (NewConnectionError, ConnectTimeoutError)):
                    break
            except HTTPError as exc:
                failure = _network_error(exc, method, target)
                break
        assert failure is not None
        raise failure
