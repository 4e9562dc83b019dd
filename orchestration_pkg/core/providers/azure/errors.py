"""Azure SDK errors → ``StorageError``, and log records without query strings (SAS values).

Azure exceptions are never chained (their text carries request URLs): only their status and
error code are kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)

from orchestration_pkg.core.errors import StorageError, provider_error
from orchestration_pkg.core.transport import transport_cause
from orchestration_pkg.core.urls import safe_endpoint

T = TypeVar("T")

_AUTH_CODES = {"AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation"}
_ACCESS_CODES = {
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "AuthorizationResourceTypeMismatch",
    "AuthorizationServiceMismatch",
    "AuthorizationProtocolMismatch",
    "AuthorizationSourceIPMismatch",
    "InsufficientAccountPermissions",
    "KeyBasedAuthenticationNotPermitted",
}
_NOT_FOUND_CODES = {"BlobNotFound", "ContainerNotFound", "ResourceNotFound"}
_THROTTLE_CODES = {"ServerBusy", "TooManyRequests"}
_NETWORK_ERRORS = (ServiceRequestError, ServiceResponseError, IncompleteReadError)


def classify(provider_code: str, status: int | None) -> tuple[str, bool]:
    """Map an Azure error code / HTTP status to ``(code, transient)``."""
    if provider_code in _AUTH_CODES or status == 401:
        return "Auth", False
    if provider_code in _ACCESS_CODES or status == 403:
        return "AccessDenied", False
    if provider_code in _NOT_FOUND_CODES or status == 404:
        return "NotFound", False
    if provider_code == "InvalidRange" or status == 416:
        return "InvalidRange", False
    if provider_code in _THROTTLE_CODES or status in (429, 503):
        return "Throttled", True
    if status is not None and status >= 500:
        return "ServerError", True
    return "Error", False


def _error_code(exc: HttpResponseError) -> str:
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # StorageErrorCode enum members
    if not code and exc.response is not None:
        code = exc.response.headers.get("x-ms-error-code")
    return str(code or "")


def to_storage_error(
    exc: BaseException, operation: str, target: str, *, endpoint: str | None = None
) -> StorageError:
    """The one place Azure SDK errors become ``StorageError``.

    The message has the form ``TARGET: OPERATION CODE (STATUS AZURE_CODE)`` and never includes
    the SDK's own text (which may quote request URLs with their SAS). The result carries
    ``provider_code``, ``status``, ``operation`` and ``request_id`` attributes.
    """
    if isinstance(exc, StorageError):
        return exc
    status: int | None = None
    request_id: str | None = None
    cause = None if getattr(exc, "status_code", None) else transport_cause(exc)
    if isinstance(exc, _NETWORK_ERRORS) or cause is not None:
        # a body cut short arrives as an HttpResponseError without status wrapping the
        # transport error (IncompleteRead, ChunkedEncodingError): the connection broke
        provider, code, transient = type(cause or exc).__name__, "Network", True
        shown = f"{provider} talking to {safe_endpoint(endpoint)}"
    elif isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status = exc.status_code
        provider = _error_code(exc) or str(status)
        code, transient = classify(provider, status)
        shown = str(status) if provider == str(status) else f"{status} {provider}"
        if exc.response is not None:
            request_id = exc.response.headers.get("x-ms-request-id")
    elif isinstance(exc, ClientAuthenticationError):
        provider, code, transient = type(exc).__name__, "Auth", False
        shown = f"{provider}: could not get a token from Microsoft Entra ID"
    else:
        provider, code, transient = type(exc).__name__, "Error", False
        shown = provider
    error = provider_error(
        target, operation, code, shown, transient=transient, provider=provider, status=status
    )
    error.request_id = request_id  # type: ignore[attr-defined]
    return error


def call_azure(
    fn: Callable[[], T], operation: str, target: str, *, endpoint: str | None = None
) -> T:
    """Run ``fn``; Azure errors (and transport errors the SDK lets through) are re-raised as
    ``StorageError`` outside the ``except`` block, so the SDK exception (whose text may quote
    a signed URL) is neither cause nor context."""
    try:
        return fn()
    except Exception as exc:
        if not isinstance(exc, AzureError) and transport_cause(exc) is None:
            raise
        error = to_storage_error(exc, operation, target, endpoint=endpoint)
    raise error


_QUERY = re.compile(r"\?[^\s'\"]*")
# The logger name users may already configure (kept from before the provider packages).
HTTP_LOGGER = "orchestration_pkg.core.azure.http"


def _without_query(value: Any) -> Any:
    if isinstance(value, str) and "?" in value:
        return _QUERY.sub("?<redacted>", value)
    return value


class _RedactQuery(logging.Filter):
    """Drop query strings (SAS values, even if already ``REDACTED``) from log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _without_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(a) for a in record.args)
        return True


_REDACT_FILTER = _RedactQuery()


def http_logger() -> logging.Logger:
    """The logger our clients' ``HttpLoggingPolicy`` writes to (DEBUG, no query strings).

    The same filter goes on urllib3's connection-pool logger, whose DEBUG request lines would
    otherwise carry the SAS of every request.
    """
    logger = logging.getLogger(HTTP_LOGGER)
    for target in (logger, logging.getLogger("urllib3.connectionpool")):
        if _REDACT_FILTER not in target.filters:
            target.addFilter(_REDACT_FILTER)
    return logger
