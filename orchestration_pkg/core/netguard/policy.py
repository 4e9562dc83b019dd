"""Which URLs may be fetched: URL syntax checks, DNS resolution and :class:`NetworkPolicy`."""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestration_pkg.core.errors import ConfigError, StorageError
from orchestration_pkg.core.netguard.addresses import (
    METADATA_ADDRESSES,
    IPAddress,
    IPNetwork,
    address_problem,
    connect_address,
    embedded_ipv4,
    parse_ip,
    shown_address,
    unmapped_network,
)
from orchestration_pkg.core.urls import shown_url

# One logger for the whole package, named as before the split into modules.
log = logging.getLogger(__package__)

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
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


def invalid_url(url: str, reason: str) -> StorageError:
    """``StorageError(code='InvalidUrl')``: ``url`` (shown redacted) is malformed."""
    return StorageError(f"{shown_url(url)}: {reason}", code="InvalidUrl")


def forbidden_url(url: str, reason: str) -> StorageError:
    """``StorageError(code='Forbidden')``: the policy refuses ``url`` (shown redacted)."""
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
        raise invalid_url(url, problem)
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise forbidden_url(url, "not an http(s) URL")
    if scheme.lower() not in ALLOWED_SCHEMES:
        raise forbidden_url(url, f"scheme {scheme[:20]!r} is not allowed (http and https only)")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        raise forbidden_url(url, "user name or password in the URL is not allowed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid_url(url, "malformed host or port") from None
    host = (parts.hostname or "").lower()
    if not host or not _valid_host(host):
        raise invalid_url(url, "no valid host in URL")
    if port == 0:
        raise invalid_url(url, "port 0 is not a valid port")
    scheme = scheme.lower()
    target = rest[len(netloc) :].split("#", 1)[0]
    if not target.startswith("/"):
        target = "/" + target
    return _UrlParts(scheme, host, port or DEFAULT_PORTS[scheme], port is not None, target)


def _valid_host(host: str) -> bool:
    if ":" in host:  # only IPv6 literals contain ':' once urlsplit removed the port
        return parse_ip(host) is not None
    return bool(_HOST_NAME.match(host))


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
        for index, entry in enumerate(self.allow_hosts):
            self._add(entry, index)

    def __repr__(self) -> str:
        return f"NetworkPolicy(allow_hosts={self.allow_hosts!r})"

    def _add(self, entry: str, index: int) -> None:
        text = str(entry).strip().lower().rstrip(".")
        try:
            self._networks.append(
                unmapped_network(ipaddress.ip_network(text.strip("[]"), strict=False))
            )
            return
        except ValueError:
            pass
        if text.startswith("*.") and _HOST_NAME.match(text[2:]):
            self._suffixes.append(text[1:])
        elif _HOST_NAME.match(text) and "*" not in text:
            self._names.add(text)
        else:
            # the entry is not repeated: a secret pasted into the wrong field must not be shown
            raise ConfigError(
                f"allow_hosts[{index}]: not a host name, *.domain wildcard, IP address or CIDR"
            )

    def allows_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self._names or any(name.endswith(s) for s in self._suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        inner = embedded_ipv4(address)
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
                    address=connect_address(address),
                    problem=problem,
                    target=parts.target,
                )
            )
        return targets

    def check_without_dns(self, url: str) -> None:
        """The part of :meth:`check_url` that needs no DNS lookup: syntax, scheme, and the
        address of an IP literal (in any form the C library reads: ``127.1``, ``2130706433``,
        ``[::ffff:169.254.169.254]``) or a ``localhost`` name. ``StorageError`` (``Forbidden``
        / ``InvalidUrl``) if refused. For jobs that fetch nothing (``--fetch none``, strict
        client-only): such URLs must not enter the catalog, to be handed on later."""
        parts = _split(url)
        host = parts.host.rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            if not self.allows_name(host):
                raise forbidden_url(url, "localhost is loopback; allow it with allow_hosts")
            return
        try:
            infos = socket.getaddrinfo(
                host, parts.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except (socket.gaierror, UnicodeError):
            return  # a host name: checked after resolution, when (and if) it is fetched
        for *_, sockaddr in infos:
            address = parse_ip(str(sockaddr[0]))
            problem = address_problem(address) if address is not None else None
            if address is not None and problem and not self.allows_address(address):
                raise self._refusal(url, address, problem, by_name=False)

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
        return forbidden_url(url, f"resolves to {shown} ({problem}); {hint}")


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
        raise invalid_url(url or host, "host name is not valid") from None
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        address = (
            parse_ip(str(sockaddr[0])) if family in (socket.AF_INET, socket.AF_INET6) else None
        )
        if address is not None and address not in found:
            found.append(address)
    if not found:
        raise StorageError(f"{shown}: host {host} has no IP address", code="Network")
    return found
