"""Google client errors → ``StorageError`` (provider-neutral codes, no secrets, no URLs)."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import urllib3
from google.api_core.exceptions import GoogleAPICallError, GoogleAPIError, RetryError
from google.auth.exceptions import GoogleAuthError
from google.auth.exceptions import TimeoutError as AuthTimeoutError
from google.auth.exceptions import TransportError as AuthTransportError
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

from orchestration_pkg.core.errors import StorageError, provider_error
from orchestration_pkg.core.transport import transport_cause
from orchestration_pkg.core.urls import safe_endpoint

SIGNING_FIX = (
    "use auth method service_account with a JSON key file, or run as a service account "
    "that holds roles/iam.serviceAccountTokenCreator on itself (IAM signBlob)"
)
_REASON = re.compile(r"^[A-Za-z]{1,64}$")
_PLAIN_REASONS = {"notfound", "forbidden", "required", "unauthorized"}

_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    AuthTransportError,
    AuthTimeoutError,
)
MAPPED_ERRORS = (
    GoogleAPIError,
    GoogleAuthError,
    InvalidResponse,
    DataCorruption,
    requests.exceptions.RequestException,
    *_NETWORK_ERRORS,
)


_RETRIES_RAN_OUT = ("RetryError", None, "Network", True, "retries ran out")


def classify(status: int | None) -> tuple[str, bool]:
    """Map an HTTP status to ``(code, transient)``."""
    if status == 401:
        return "Auth", False
    if status == 403:
        return "AccessDenied", False
    if status == 404:
        return "NotFound", False
    if status == 408:
        return "Network", True
    if status == 416:
        return "InvalidRange", False
    if status == 429:
        return "Throttled", True
    if status is not None and status >= 500:
        return "ServerError", True
    return "Error", False


def _api_reason(exc: GoogleAPICallError) -> str | None:
    """The JSON API error reason (``notFound``, ``userProjectMissing``...), if well-formed."""
    reason = exc.reason
    if not reason and exc.errors and isinstance(exc.errors[0], dict):
        reason = exc.errors[0].get("reason")
    return reason if isinstance(reason, str) and _REASON.match(reason) else None


def _request_endpoint(exc: BaseException, fallback: str | None) -> str:
    request = getattr(exc, "request", None)
    return safe_endpoint(getattr(request, "url", None) or fallback)


def _describe(exc: BaseException, endpoint: str | None) -> tuple[str, int | None, str, bool, str]:
    """``(provider_code, status, code, transient, shown)`` of ``exc`` (no messages, no URLs)."""
    name = type(exc).__name__
    if isinstance(exc, GoogleAPICallError):
        status = exc.code if isinstance(exc.code, int) else None
        reason = _api_reason(exc)
        code, transient = classify(status)
        provider = reason or str(status or name)
        plain = not reason or reason.lower() in _PLAIN_REASONS
        shown = str(status) if plain and status else f"{status} {reason}" if status else name
        return provider, status, code, transient, shown
    if isinstance(exc, InvalidResponse):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        code, transient = classify(status)
        return str(status or name), status, code, transient, f"{status or name}"
    if isinstance(exc, DataCorruption):
        return name, None, "Corrupted", True, f"{name}: checksum mismatch"
    if isinstance(exc, (AuthTransportError, AuthTimeoutError)):
        shown = f"{name} reaching a Google auth endpoint"
        return "AuthTransportError", None, "Network", True, shown
    if isinstance(exc, _NETWORK_ERRORS) or transport_cause(exc) is not None:
        return name, None, "Network", True, f"{name} talking to {_request_endpoint(exc, endpoint)}"
    if isinstance(exc, GoogleAuthError):
        return name, None, "Auth", False, f"{name}: credentials could not be obtained"
    return name, None, "Error", False, name


def to_storage_error(
    exc: BaseException, operation: str, target: str, *, endpoint: str | None = None
) -> StorageError:
    """The one place Google client errors become ``StorageError`` (no secrets, no URLs).

    The result carries ``provider_code``, ``status`` and ``operation`` attributes besides
    ``code`` and ``transient``; a ``RetryError`` is reported as its last cause, transient.
    """
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, RetryError):
        if exc.cause is not None and not isinstance(exc.cause, RetryError):
            error = to_storage_error(exc.cause, operation, target, endpoint=endpoint)
            error.transient = True
            return error
        provider, status, code, transient, shown = _RETRIES_RAN_OUT
    else:
        provider, status, code, transient, shown = _describe(exc, endpoint)
    error = provider_error(
        target, operation, code, shown, transient=transient, provider=provider, status=status
    )
    return error


@contextmanager
def mapped_errors(operation: str, target: str, endpoint: str | None = None) -> Iterator[None]:
    """Re-raise Google client errors (and any transport error) as ``StorageError``."""
    try:
        yield
    except MAPPED_ERRORS as exc:
        raise to_storage_error(exc, operation, target, endpoint=endpoint) from exc
    except Exception as exc:
        if transport_cause(exc) is None:
            raise
        raise to_storage_error(exc, operation, target, endpoint=endpoint) from exc


def signing_unavailable(target: str, why: str) -> StorageError:
    """``StorageError(code="SigningUnavailable")`` whose message says what to do."""
    error = StorageError(
        f"{target}: SignUrl SigningUnavailable ({why}; {SIGNING_FIX})", code="SigningUnavailable"
    )
    error.provider_code = "SigningUnavailable"  # type: ignore[attr-defined]
    error.status = None  # type: ignore[attr-defined]
    error.operation = "SignUrl"  # type: ignore[attr-defined]
    return error
