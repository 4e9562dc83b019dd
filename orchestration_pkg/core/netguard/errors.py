"""Errors of HTTP answers and of failed connections, as :class:`StorageError`."""

from __future__ import annotations

import http
from collections.abc import Mapping

from urllib3.exceptions import MaxRetryError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.netguard.policy import ResolvedTarget
from orchestration_pkg.core.urls import shown_url


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


def network_error(exc: BaseException, method: str, target: ResolvedTarget) -> StorageError:
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
