"""botocore errors → ``StorageError`` (provider-neutral codes, no secrets, no URLs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from orchestration_pkg.core.errors import StorageError, provider_error
from orchestration_pkg.core.transport import transport_cause
from orchestration_pkg.core.urls import safe_endpoint

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchVersion"}
_THROTTLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
_WRONG_REGION_CODES = {"301", "PermanentRedirect", "AuthorizationHeaderMalformed"}
_TIMEOUT_CODES = {"RequestTimeout", "RequestTimeoutException"}
_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
_NETWORK_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)


def classify(provider_code: str, status: int | None) -> tuple[str, bool]:
    """Map a provider error code / HTTP status to ``(code, transient)``."""
    if provider_code in _AUTH_CODES:
        return "Auth", False
    if provider_code in _NOT_FOUND_CODES or status == 404:
        return "NotFound", False
    if provider_code in _THROTTLE_CODES or status in (429, 503):
        return "Throttled", True
    if provider_code in ("InvalidRange", "416") or status == 416:
        return "InvalidRange", False
    if provider_code == "AccessDenied" or status == 403:
        return "AccessDenied", False
    if provider_code in _WRONG_REGION_CODES or status == 301:
        return "WrongRegion", False
    if provider_code in _TIMEOUT_CODES:
        return "Network", True
    if status is not None and status >= 500:
        return "ServerError", True
    return "Error", False


def to_storage_error(exc: BaseException, operation: str, target: str) -> StorageError:
    """The one place botocore errors become ``StorageError`` (message: no secrets, no URLs).

    The result carries ``provider_code``, ``status`` and ``operation`` attributes besides
    ``code`` and ``transient``.
    """
    if isinstance(exc, StorageError):
        return exc
    status: int | None = None
    if isinstance(exc, ClientError):
        provider = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code, transient = classify(provider, status)
        if exc.operation_name and exc.operation_name != operation:
            operation = f"{operation}/{exc.operation_name}"
        shown = provider if status is None or str(status) == provider else f"{status} {provider}"
    elif isinstance(exc, _NETWORK_ERRORS):
        provider, code, transient = type(exc).__name__, "Network", True
        endpoint = safe_endpoint(getattr(exc, "kwargs", {}).get("endpoint_url"))
        shown = f"{provider} talking to {endpoint}"
    elif (cause := transport_cause(exc)) is not None:
        # e.g. urllib3's ProtocolError while botocore reads an error body: not a BotoCoreError
        provider, code, transient = type(cause).__name__, "Network", True
        shown = f"{provider} (connection broken)"
    elif isinstance(exc, _CREDENTIAL_ERRORS):
        provider, code, transient = type(exc).__name__, "Auth", False
        shown = f"{provider}: no usable credentials"
    else:
        provider, code, transient = type(exc).__name__, "Error", False
        shown = provider
    error = provider_error(
        target, operation, code, shown, transient=transient, provider=provider, status=status
    )
    return error


@contextmanager
def mapped_errors(operation: str, target: str) -> Iterator[None]:
    """Re-raise botocore errors, and any HTTP library's transport errors botocore lets
    through (:mod:`~orchestration_pkg.core.transport`), as ``StorageError``."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise to_storage_error(exc, operation, target) from exc
    except Exception as exc:
        if transport_cause(exc) is None:
            raise
        raise to_storage_error(exc, operation, target) from exc
