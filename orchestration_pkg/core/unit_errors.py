"""Unit error codes: what kind of problem kept one file out, and whether a retry may help.

Every unit error a job records carries one of these stable snake_case codes and a
``transient`` flag (``retry JOB_ID`` and the Dagster retry sensor use them):

================  =========  ==============================================================
code              transient  meaning
================  =========  ==============================================================
not_found         no         the object does not exist (yet)
forbidden         no         access denied, bad or expired credentials, URL refused by policy
timeout           yes        the request or the object's deadline timed out
throttled         yes        the provider asked us to slow down (429, SlowDown, ServerBusy)
server_error      yes        the provider failed (5xx; a 503 naming no throttling)
network           yes        connection reset or refused, DNS, TLS (TLS: not transient)
bad_media         no         corrupt, empty, unsupported or a different kind than announced
policy            no         a requirement rule or quota refused the file
malformed_row     no         the manifest row itself is unusable (a bad field); no URL
bad_url           no         the URL is malformed or outside the integration
strict_metadata   no         a strict client-only row lacks the metadata it must carry
mismatch          no         ``--verify-metadata``: the manifest disagrees with the object
internal          no         an unexpected error while processing this one file (a bug)
unknown           per error  anything else
================  =========  ==============================================================

Any exception while one file is processed (probe, metadata, checks) becomes that file's unit
error (:func:`failure`): a broken connection of any HTTP library is ``network``, anything else
not foreseen is ``internal``, its message naming the exception class and where it was raised,
never its text (which may quote a signed URL).

The storage codes the providers' ``errors.py`` modules produce map onto these in
:data:`STORAGE_CODES`. Each failed unit also keeps a compact copy of its manifest row
(:func:`retry_item`), so it can be retried after the manifest is gone.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeVar

from orchestration_pkg.core.errors import OrchestrationError, ProbeError, StorageError, UrlError
from orchestration_pkg.core.models import ManifestItem
from orchestration_pkg.core.transport import describe_transport, is_tls, transport_cause

if TYPE_CHECKING:
    from orchestration_pkg.core.storage import Storage

NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"
TIMEOUT = "timeout"
THROTTLED = "throttled"
SERVER_ERROR = "server_error"
NETWORK = "network"
BAD_MEDIA = "bad_media"
POLICY = "policy"
MALFORMED_ROW = "malformed_row"
BAD_URL = "bad_url"
STRICT_METADATA = "strict_metadata"
MISMATCH = "mismatch"
INTERNAL = "internal"
UNKNOWN = "unknown"

CODES = (
    NOT_FOUND,
    FORBIDDEN,
    TIMEOUT,
    THROTTLED,
    SERVER_ERROR,
    NETWORK,
    BAD_MEDIA,
    POLICY,
    MALFORMED_ROW,
    BAD_URL,
    STRICT_METADATA,
    MISMATCH,
    INTERNAL,
    UNKNOWN,
)
log = logging.getLogger(__name__)
T = TypeVar("T")

# StorageError.code (provider-neutral, see core/providers/*/errors.py) → unit error code.
STORAGE_CODES = {
    "NotFound": NOT_FOUND,
    "AccessDenied": FORBIDDEN,
    "Auth": FORBIDDEN,
    "Forbidden": FORBIDDEN,  # netguard: the network policy refuses the target
    "SasInvalid": FORBIDDEN,
    "SasExpired": FORBIDDEN,
    "SasNotYetValid": FORBIDDEN,
    "Timeout": TIMEOUT,
    "Throttled": THROTTLED,
    "ServerError": SERVER_ERROR,
    "Network": NETWORK,
    "TLS": NETWORK,
    "Corrupted": NETWORK,  # checksum mismatch in transit
    "InvalidRange": BAD_MEDIA,  # shorter than its own header says
    "ReadLimit": BAD_MEDIA,  # metadata beyond the read limit
    "TooLarge": POLICY,
    "StrictClientOnly": STRICT_METADATA,
    "InvalidUrl": BAD_URL,
    "TooManyRedirects": BAD_URL,
}
_ALWAYS_TRANSIENT = {TIMEOUT, THROTTLED, SERVER_ERROR}
MAX_ITEM_BYTES = 64 * 1024


@dataclass(frozen=True)
class Failure:
    """Why one unit failed: the message shown, its code and whether retrying may help."""

    message: str
    code: str = UNKNOWN
    transient: bool = False


def classify(exc: BaseException) -> tuple[str, bool]:
    """``(code, transient)`` of an exception raised while registering one file."""
    if isinstance(exc, StorageError):
        code = STORAGE_CODES.get(exc.code, UNKNOWN)
        if code == NETWORK and "timed out" in str(exc):
            code = TIMEOUT
        if code == THROTTLED and _unavailable(exc):
            code = SERVER_ERROR
        return code, exc.transient or code in _ALWAYS_TRANSIENT
    if isinstance(exc, ProbeError):
        return BAD_MEDIA, False
    if isinstance(exc, UrlError):
        return BAD_URL, False
    if isinstance(exc, TimeoutError):
        return TIMEOUT, True
    if isinstance(exc, OrchestrationError):
        return UNKNOWN, False
    if transport_cause(exc) is not None:
        return NETWORK, not is_tls(exc)
    return INTERNAL, False


def _unavailable(exc: StorageError) -> bool:
    """A 503 that names no throttling (no SlowDown, ServerBusy, …): the service failed."""
    named = str(getattr(exc, "provider_code", "") or "").lower()
    hints = ("slow", "throttl", "busy", "toomany", "limit")
    return getattr(exc, "status", None) == 503 and not any(h in named for h in hints)


def failure(exc: BaseException) -> Failure:
    """The :class:`Failure` of any exception (its message never carries a secret: our own
    errors are written so; of others only the class and the place are said)."""
    code, transient = classify(exc)
    if isinstance(exc, OrchestrationError):
        return Failure(str(exc), code, transient)
    cause = transport_cause(exc)
    if cause is not None:
        return Failure(f"network error: {describe_transport(cause)}", code, transient)
    where = raised_at(exc)
    log.warning("internal error processing one file: %s at %s", type(exc).__name__, where)
    return Failure(f"internal error: {type(exc).__name__} at {where}", code, transient)


def guarded(fn: Callable[[], T]) -> T | Failure:
    """``fn()``, or the :class:`Failure` of any exception it raises: the per-file boundary
    (interrupts and exits still propagate)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one file's error, never the job's
        return failure(exc)


def raised_at(exc: BaseException) -> str:
    """``package/module.py:LINE`` of the innermost frame of ``exc``'s traceback."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return "an unknown place"
    frame = frames[-1]
    parts = PurePath(frame.filename).parts
    return f"{'/'.join(parts[-2:])}:{frame.lineno}"


def retry_item(
    item: ManifestItem, storage: Storage | None = None, key: str | None = None
) -> dict[str, Any] | None:
    """A compact JSON copy of ``item`` for a later retry, its URL the canonical one of ``key``.

    The URL is kept only when it leads back to the same object (``parse_url`` of it gives
    ``key``): a direct URL whose query (a signature) is never stored keeps no URL, and the unit
    is reported as not retryable. None when the copy exceeds 64 KiB.
    """
    data = item.model_dump(mode="json", exclude_defaults=True, exclude={"url"})
    data["row"] = item.row
    data["url"] = _retry_url(storage, key) if storage is not None and key is not None else None
    if len(json.dumps(data, separators=(",", ":"), default=str)) > MAX_ITEM_BYTES:
        return None
    return data


def _retry_url(storage: Storage, key: str) -> str | None:
    url = storage.canonical_url(key)
    try:
        return url if storage.parse_url(url) == key else None
    except (UrlError, StorageError):  # malformed, or refused by the network policy
        return None


def not_retryable(code: str, item: dict[str, Any] | None) -> str | None:
    """Why a recorded unit cannot be retried (None: it can)."""
    if code == MALFORMED_ROW:
        return "the manifest row itself is malformed: fix it and register it again"
    if code == BAD_URL:
        return "its URL is malformed or outside the integration: fix the row, register it again"
    if item is None:
        return "its manifest row was not recorded (an older job, or larger than 64 KiB)"
    if not item.get("url"):
        return (
            "its URL carries a query (a signature?) that is never stored: "
            "register it again with a fresh URL"
        )
    return None


def manifest_item(item: dict[str, Any]) -> ManifestItem:
    """The :class:`ManifestItem` a recorded :func:`retry_item` copy stands for."""
    return ManifestItem.model_validate(item)
