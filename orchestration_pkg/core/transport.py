"""Transport errors of any HTTP stack, recognised wherever they surface.

The SDKs map most connection failures to their own errors, but not all: a connection reset
while botocore reads an S3 *error* body raises urllib3's ``ProtocolError`` itself, and
azure-storage wraps a body cut short in an ``HttpResponseError`` without a status. Every
provider's error mapping (and the engine's last-resort per-file boundary) asks
:func:`transport_cause` whether an exception is, or wraps, a broken connection, which is a
transient ``Network`` error: a retry may help.

Only libraries already imported are consulted: an exception class of a module that was never
loaded cannot have been raised, and nothing here imports an SDK.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import sys

# module → exception classes that mean "the connection failed / broke / timed out"
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "urllib3.exceptions": ("HTTPError",),  # ProtocolError, IncompleteRead, ReadTimeoutError…
    "requests.exceptions": (
        "ConnectionError",
        "Timeout",
        "ChunkedEncodingError",
        "ContentDecodingError",
    ),
    "aiohttp.client_exceptions": (
        "ClientConnectionError",
        "ClientPayloadError",
        "ServerTimeoutError",
    ),
    "azure.core.exceptions": ("ServiceRequestError", "ServiceResponseError", "IncompleteReadError"),
    "botocore.exceptions": (
        "HTTPClientError",
        "ConnectionError",
        "IncompleteReadError",
        "ResponseStreamingError",
    ),
    "google.auth.exceptions": ("TransportError",),
}
_ALWAYS: tuple[type[BaseException], ...] = (
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected, BadStatusLine…
    ConnectionError,  # reset, refused, aborted, broken pipe
    TimeoutError,  # socket.timeout
    socket.gaierror,  # DNS
)
_MAX_LINKS = 12


def transport_classes() -> tuple[type[BaseException], ...]:
    """The transport exception classes of every HTTP library loaded so far."""
    found = list(_ALWAYS)
    for module_name, names in _CANDIDATES.items():
        module = sys.modules.get(module_name)
        for name in names:
            cls = getattr(module, name, None) if module is not None else None
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append(cls)
    return tuple(found)


def transport_cause(exc: BaseException) -> BaseException | None:
    """``exc`` or the first exception it wraps (``__cause__``, ``__context__``, azure's
    ``inner_exception``, exception arguments) that is a transport error; else ``None``."""
    classes = transport_classes()
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue and len(seen) < _MAX_LINKS:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, classes):
            return current
        links = [current.__cause__, current.__context__, getattr(current, "inner_exception", None)]
        links += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        queue += [link for link in links if isinstance(link, BaseException)]
    return None


def is_tls(exc: BaseException) -> bool:
    """Whether a transport error is a TLS failure (a certificate problem is not transient)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < _MAX_LINKS:
        if isinstance(current, ssl.SSLError) or "SSLError" in type(current).__name__:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def describe_transport(exc: BaseException) -> str:
    """``ProtocolError (connection broken)``: the class, never the text (it may quote URLs)."""
    return f"{type(exc).__name__} (connection broken)"
