"""Exceptions of the core. Messages never contain secrets or signed query strings."""

from __future__ import annotations


class OrchestrationError(Exception):
    """Base class: a problem the user can act on, printed as one line."""


class ConfigError(OrchestrationError):
    """The YAML config is missing, malformed or refers to an unset environment variable."""


class NotFoundError(OrchestrationError):
    """A named folder, integration or job does not exist."""


class ManifestError(OrchestrationError):
    """The manifest as a whole cannot be read (not a row problem)."""


class UrlError(OrchestrationError):
    """An object URL is malformed or does not belong to the integration."""

    def __init__(self, reason: str, field: str = "url") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class StorageError(OrchestrationError):
    """A storage call failed.

    ``code`` is a short provider-neutral word (NotFound, AccessDenied, Throttled, ServerError,
    Network, InvalidRange, ...); ``transient`` says whether retrying may help.
    """

    def __init__(self, message: str, *, code: str = "Error", transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class ProbeError(OrchestrationError):
    """The object is readable but not what it claims to be (corrupt, empty, not media)."""


def provider_error(
    target: str,
    operation: str,
    code: str,
    shown: str,
    *,
    transient: bool,
    provider: str,
    status: int | None,
) -> StorageError:
    """A mapped provider error: ``TARGET: OPERATION CODE (SHOWN)``.

    ``shown`` is what may be said of the provider's error (its code and status, never its own
    text). The result carries ``provider_code``, ``status`` and ``operation`` attributes.
    """
    error = StorageError(f"{target}: {operation} {code} ({shown})", code=code, transient=transient)
    error.provider_code = provider  # type: ignore[attr-defined]
    error.status = status  # type: ignore[attr-defined]
    error.operation = operation  # type: ignore[attr-defined]
    return error
