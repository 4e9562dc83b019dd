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

Modules: :mod:`.addresses` (which IP addresses are public), :mod:`.policy` (URL syntax, DNS,
:class:`NetworkPolicy`), :mod:`.errors` (HTTP status and connection errors), :mod:`.pinned`
(the urllib3 pools sending the raw request target) and :mod:`.client`
(:class:`GuardedHttpClient`).
"""

from orchestration_pkg.core.netguard.addresses import (
    METADATA_ADDRESSES,
    IPAddress,
    IPNetwork,
    address_problem,
    shown_address,
)
from orchestration_pkg.core.netguard.client import (
    DEFAULT_MAX_BODY_BYTES,
    REDIRECT_STATUSES,
    RETRY_AFTER_MAX,
    RETRY_STATUSES,
    USER_AGENT,
    GuardedHttpClient,
)
from orchestration_pkg.core.netguard.errors import HttpStatusError, classify_status, status_error
from orchestration_pkg.core.netguard.policy import (
    ALLOWED_SCHEMES,
    DEFAULT_PORTS,
    NetworkPolicy,
    ResolvedTarget,
    resolve,
    url_syntax_problem,
)

__all__ = [
    "ALLOWED_SCHEMES",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORTS",
    "METADATA_ADDRESSES",
    "REDIRECT_STATUSES",
    "RETRY_AFTER_MAX",
    "RETRY_STATUSES",
    "USER_AGENT",
    "GuardedHttpClient",
    "HttpStatusError",
    "IPAddress",
    "IPNetwork",
    "NetworkPolicy",
    "ResolvedTarget",
    "address_problem",
    "classify_status",
    "resolve",
    "shown_address",
    "status_error",
    "url_syntax_problem",
]
