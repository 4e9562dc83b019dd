"""Azure Blob Storage: one container + optional prefix of a storage account, read in place.

Accepted object URLs (see :func:`parse_azure_url`):

* ``https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB`` (and the other Azure clouds) —
  the blob name is percent-decoded UTF-8, with the same rules as S3 https URLs: no raw spaces,
  no raw non-ASCII, no raw ``+`` (ambiguous: write a space as ``%20`` and a plus as ``%2B``);
* any URL under the integration's ``account_url`` (emulators such as
  ``http://127.0.0.1:10000/devstoreaccount1/CONTAINER/BLOB``, private endpoints);
* ``az://CONTAINER/BLOB`` and ``azure://CONTAINER/BLOB`` — the blob name is taken literally.

A query string (a SAS) is accepted, ignored and never echoed: the catalog stores canonical
URLs only, which is why rotating the SAS token keeps every registered file valid.

Secrets: the SAS token, account key, connection string and client secret never appear in an
exception, a log line or a repr. Clients are built with ``logging_enable=False``; azure-core's
``HttpLoggingPolicy`` writes to our own logger at DEBUG through a filter that drops query
strings, as does urllib3's connection-pool logger; and Azure exceptions are never chained
(their text carries request URLs): only their status and error code are kept.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO, NamedTuple, TypeVar, cast
from urllib.parse import parse_qs, quote, urlsplit

import requests
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import HttpTransport, RequestsTransport
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    CorsRule,
    ExponentialRetry,
    UserDelegationKey,
    generate_blob_sas,
)
from requests.adapters import HTTPAdapter

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import AccessCheckMixin
from orchestration_pkg.core.config import (
    AzureAccountKeyAuth,
    AzureConnectionStringAuth,
    AzureIntegrationConfig,
    AzureSasAuth,
    AzureServicePrincipalAuth,
)
from orchestration_pkg.core.errors import StorageError, UrlError, provider_error
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import (
    AccessCheck,
    RangeRead,
    clamp_ttl,
    strip_etag,
    total_size,
)
from orchestration_pkg.core.urls import (
    check_url_characters,
    check_url_string,
    decode_url_key,
    redact_url,
    url_error,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_TOTAL = 5
RETRY_INITIAL_BACKOFF = 1
RETRY_INCREMENT_BASE = 2
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
LIST_PAGE_SIZE = 5000
DOWNLOAD_CHUNK = 4 * 1024 * 1024
STREAM_BUFFER = 1024 * 1024
SAS_WARN_BEFORE = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=5)
DELEGATION_KEY_LIFETIME = timedelta(days=2)
MAX_BLOB_NAME = 1024
EMULATOR_ACCOUNT = "devstoreaccount1"
# The Azure Storage emulator's documented, public development key (not a secret).
EMULATOR_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
CORS_EXPOSED_HEADERS = ["Content-Length", "Content-Range", "Accept-Ranges", "ETag"]
READ_ROLE = "Storage Blob Data Reader"
DELEGATOR_ROLE = "Storage Blob Delegator"
ARM_ACCOUNT_SCOPE = (
    "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/{account}"
)

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``access``).
P_SAS = "SAS token"
P_SAS_PERMS = "SAS permissions"
P_SAS_SCOPE = "SAS least privilege"
P_LIST = "List Blobs"
P_HEAD = "Get Blob Properties"
P_GET = "Get Blob (ranged)"
P_SIGN = "sign"
P_CORS = "CORS"

_AZURE_HOST = re.compile(
    r"^(?P<account>[a-z0-9]+)(?:-secondary)?(?:\.privatelink)?\.blob\."
    r"(?:core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net|"
    r"core\.cloudapi\.de|storage\.azure\.net)$"
)
_CONTAINER_CHARS = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_SPECIAL_CONTAINERS = frozenset({"$root", "$web", "$logs"})
_SAS_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}

SAS_PERMISSION_NAMES = {
    "r": "Read",
    "a": "Add",
    "c": "Create",
    "w": "Write",
    "d": "Delete",
    "x": "Delete version",
    "y": "Permanent delete",
    "l": "List",
    "t": "Tags",
    "f": "Filter",
    "m": "Move",
    "e": "Execute",
    "o": "Ownership",
    "p": "Permissions",
    "i": "Set immutability policy",
    "u": "Update",
}
REGENERATE = "regenerate the SAS with Read and List"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_time(when: datetime) -> str:
    """``2026-01-02T03:04:05Z``."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Error mapping
# ---------------------------------------------------------------------------------------------

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


def safe_endpoint(url: str | None) -> str:
    """``scheme://host:port`` of ``url``: no user info, path or (signed) query string."""
    parts = urlsplit(url or "")
    if not parts.hostname:
        return "the endpoint"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}"


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
    if isinstance(exc, _NETWORK_ERRORS):
        provider, code, transient = type(exc).__name__, "Network", True
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
    """Run ``fn``; Azure errors are re-raised as ``StorageError`` outside the ``except`` block,
    so the SDK exception (whose text may quote a signed URL) is neither cause nor context."""
    try:
        return fn()
    except AzureError as exc:
        error = to_storage_error(exc, operation, target, endpoint=endpoint)
    raise error


_QUERY = re.compile(r"\?[^\s'\"]*")
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


# ---------------------------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------------------------


class AzureLocation(NamedTuple):
    """A parsed object URL: container and decoded blob name."""

    container: str
    blob: str


def normalize_account_url(account_url: str) -> str:
    """``account_url`` without query, fragment, user info and trailing slash."""
    return redact_url(account_url.strip()).rstrip("/")


def account_name_of(account_url: str) -> str:
    """The storage account name: the first path segment of emulator-style URLs
    (``http://127.0.0.1:10000/devstoreaccount1``), else the first label of the host."""
    parts = urlsplit(normalize_account_url(account_url))
    segment = parts.path.strip("/").split("/", 1)[0]
    if segment:
        return segment
    return (parts.hostname or "").split(".", 1)[0]


def validate_container_name(name: str) -> None:
    """Raise ``UrlError(field="container")`` unless ``name`` is a valid container name."""
    if name in _SPECIAL_CONTAINERS:
        return
    reason = None
    if not 3 <= len(name) <= 63:
        reason = "must be 3 to 63 characters long"
    elif not _CONTAINER_CHARS.match(name):
        reason = "only lowercase letters, digits and hyphens, beginning and ending alphanumeric"
    elif "--" in name:
        reason = "must not contain two adjacent hyphens"
    if reason:
        raise UrlError(f"invalid container name {name[:70]!r}: {reason}", "container")


def encode_blob_for_url(blob: str) -> str:
    """Percent-encode a blob name for an URL path (UTF-8; ``/`` and ``~`` kept), as the SDK."""
    return quote(blob, safe="/~")


def parse_azure_url(url: str, *, account_url: str | None = None) -> AzureLocation:
    """Parse an Azure Blob object URL into ``(container, blob)``; ``UrlError`` if it is not one.

    With ``account_url``, https URLs must be on that account (and URLs under ``account_url``
    itself, such as emulator URLs, are accepted).
    """
    check_url_string(url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise url_error(
            url, "not a URL: expected https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB"
        )
    if scheme in ("az", "azure"):
        container, _, blob = rest.partition("/")
        return _location(url, container, blob)
    if scheme in ("http", "https"):
        return _parse_http(url, account_url)
    raise url_error(
        url, f"unsupported scheme {scheme[:20]!r}: use az://CONTAINER/BLOB or an https blob URL"
    )


def _location(url: str, container: str, blob: str) -> AzureLocation:
    if not container:
        raise url_error(url, "no container in URL", "container")
    validate_container_name(container)
    if not blob:
        raise url_error(url, "no blob name in URL", "key")
    if len(blob) > MAX_BLOB_NAME:
        raise url_error(
            url, f"blob name is {len(blob)} characters; Azure allows {MAX_BLOB_NAME}", "key"
        )
    return AzureLocation(container, blob)


def _parse_http(url: str, account_url: str | None) -> AzureLocation:
    check_url_characters(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise url_error(url, "malformed URL") from None
    if "@" in parts.netloc:
        raise url_error(url, "user name or password in the URL is not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise url_error(url, "no host in URL")
    path = _path_under(parts.scheme, host, port, parts.path, account_url)
    if path is None:
        match = _AZURE_HOST.match(host)
        if match is None:
            where = f" or under {normalize_account_url(account_url)}" if account_url else ""
            raise url_error(
                url,
                f"host {host} is not an Azure Blob endpoint (ACCOUNT.blob.core.windows.net{where})",
            )
        if account_url and match["account"] != account_name_of(account_url):
            raise url_error(
                url,
                f"is in storage account '{match['account']}', but the integration reads "
                f"account '{account_name_of(account_url)}'",
            )
        path = parts.path
    container, _, raw_blob = path.lstrip("/").partition("/")
    return _location(url, container, decode_url_key(url, raw_blob, noun="blob name"))


def _path_under(
    scheme: str, host: str, port: int | None, path: str, account_url: str | None
) -> str | None:
    """The path below ``account_url`` if the URL is on it, else ``None``."""
    if not account_url:
        return None
    base = urlsplit(normalize_account_url(account_url))
    if scheme.lower() != base.scheme.lower() or host != (base.hostname or "").lower():
        return None
    default = _DEFAULT_PORTS.get(scheme.lower())
    if (port or default) != (base.port or default):
        return None
    base_path = base.path.rstrip("/")
    if base_path and not path.startswith(base_path + "/"):
        return None
    return path[len(base_path) :]


# ---------------------------------------------------------------------------------------------
# SAS tokens (pure)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SasProblem:
    """Something wrong with a SAS token, and which operations it breaks (list / read)."""

    text: str
    breaks: frozenset[str]


@dataclass(frozen=True)
class SasInfo:
    """The fields of a SAS token that decide whether it can work (the signature excluded)."""

    expiry: datetime | None = None
    start: datetime | None = None
    permissions: str | None = None
    services: str | None = None
    resource_types: str | None = None
    resource: str | None = None
    policy_id: str | None = None
    signed: bool = False
    unreadable: tuple[str, ...] = field(default_factory=tuple)

    def usable_error(self, now: datetime | None = None) -> StorageError | None:
        """The error that makes any request pointless (malformed, expired, not yet valid)."""
        now = now or utcnow()
        if not self.signed:
            return StorageError(
                "SAS token has no signature (sig=): paste the whole token, e.g. 'sv=...&sig=...'",
                code="SasInvalid",
            )
        if self.unreadable:
            names = ", ".join(f"{n}=" for n in self.unreadable)
            return StorageError(
                f"SAS token has an unreadable {names} value; generate a new one with Read+List "
                "and update sas_token",
                code="SasInvalid",
            )
        if self.expiry is None and not self.policy_id:
            return StorageError(
                "SAS token has no expiry (se=); generate a new one with Read+List "
                "and update sas_token",
                code="SasInvalid",
            )
        if self.expiry is not None and self.expiry <= now:
            return StorageError(
                f"SAS token expired on {format_time(self.expiry)}; generate a new one with "
                "Read+List and update sas_token",
                code="SasExpired",
            )
        if self.start is not None and self.start > now + CLOCK_SKEW:
            return StorageError(
                f"SAS token is not valid before {format_time(self.start)}; wait, or generate "
                "a new one with an earlier start time and update sas_token",
                code="SasNotYetValid",
            )
        return None

    def problems(self) -> list[SasProblem]:
        """Missing services, resource types or permissions (the service would answer 403)."""
        found: list[SasProblem] = []
        if self.services is not None and "b" not in self.services:
            found.append(
                SasProblem(
                    f"SAS token is not valid for the Blob service (ss={self.services}); "
                    "regenerate with Allowed services: Blob",
                    frozenset({"list", "read"}),
                )
            )
        if self.resource_types is not None:
            found += _resource_type_problems(self.resource_types)
        if self.resource is not None and self.resource not in ("c", "d"):
            found.append(
                SasProblem(
                    f"SAS token is for a single blob (sr={self.resource}); use an account SAS "
                    "or a container SAS (sr=c) with Read+List",
                    frozenset({"list", "read"}),
                )
            )
        if self.permissions is not None or not self.policy_id:
            found += _permission_problems(self.permissions or "")
        return found

    def extra_permissions(self) -> list[str]:
        """Permissions beyond Read+List, e.g. ``["Write (w)", "Delete (d)"]``."""
        extra = [p for p in dict.fromkeys(self.permissions or "") if p not in "rl"]
        return [f"{SAS_PERMISSION_NAMES.get(p, 'unknown')} ({p})" for p in extra]


def _resource_type_problems(srt: str) -> list[SasProblem]:
    found = []
    if "c" not in srt:
        found.append(
            SasProblem(
                "SAS token lacks resource type Container (c): listing and the sensor will fail; "
                "regenerate with Allowed resource types: Container + Object",
                frozenset({"list"}),
            )
        )
    if "o" not in srt:
        found.append(
            SasProblem(
                "SAS token lacks resource type Object (o): reading files will fail; "
                "regenerate with Allowed resource types: Container + Object",
                frozenset({"read"}),
            )
        )
    return found


def _permission_problems(sp: str) -> list[SasProblem]:
    found = []
    if "r" not in sp:
        found.append(
            SasProblem(
                "SAS token lacks Read (r): reading files will fail; regenerate with Read+List",
                frozenset({"read"}),
            )
        )
    if "l" not in sp:
        found.append(
            SasProblem(
                "SAS token lacks List (l): listing and the sensor will fail; "
                "regenerate with Read+List",
                frozenset({"list"}),
            )
        )
    return found


def clean_sas_token(token: str) -> str:
    """The token without a leading '?' (or the query of a pasted SAS URL)."""
    token = token.strip()
    return token.split("?", 1)[1] if "?" in token else token


def parse_sas_time(text: str) -> datetime:
    """A SAS ``st=`` / ``se=`` value (ISO 8601 date or date-time, UTC if no zone)."""
    match = _SAS_TIME.match(text.strip())
    if not match:
        raise ValueError("not an ISO 8601 time")
    year, month, day, hour, minute, second, zone = match.groups()
    tz = timezone.utc
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    when = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        tzinfo=tz,
    )
    return when.astimezone(timezone.utc)


def parse_sas(token: str) -> SasInfo:
    """Read the fields of a SAS token (no request is made; the signature is not kept)."""
    fields = {k: v[0] for k, v in parse_qs(clean_sas_token(token), keep_blank_values=True).items()}
    times: dict[str, datetime | None] = {"se": None, "st": None}
    unreadable = []
    for name in times:
        if fields.get(name):
            try:
                times[name] = parse_sas_time(fields[name])
            except ValueError:
                unreadable.append(name)
    return SasInfo(
        expiry=times["se"],
        start=times["st"],
        permissions=fields.get("sp"),
        services=fields.get("ss"),
        resource_types=fields.get("srt"),
        resource=fields.get("sr"),
        policy_id=fields.get("si"),
        signed=bool(fields.get("sig")),
        unreadable=tuple(unreadable),
    )


def parse_connection_string(text: str) -> dict[str, str]:
    """``Key=Value;...`` pairs with upper-cased keys (values may contain '=')."""
    parts: dict[str, str] = {}
    for item in text.strip().split(";"):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            parts[key.strip().upper()] = value.strip()
    return parts


# ---------------------------------------------------------------------------------------------
# Setup guide (pure)
# ---------------------------------------------------------------------------------------------


def setup_guide_for(
    account: str, container: str, origins: list[str], max_age: int = 3600
) -> dict[str, Any]:
    """Least-privilege SAS fields, RBAC role assignments and the Blob service CORS rule."""
    if not origins:
        raise ValueError("give at least one allowed origin")
    account_scope = ARM_ACCOUNT_SCOPE.format(account=account)
    return {
        "sas": {
            "services": "b",
            "resource_types": "co",
            "permissions": "rl",
            "notes": (
                "Account SAS: Allowed services Blob, Allowed resource types Container + Object, "
                "Permissions Read + List (or a container SAS, sr=c, with Read + List). Nothing "
                "more is needed: files are read in place, never written. Before the expiry, "
                "generate a new token and update sas_token: registered files stay valid, the "
                "catalog stores canonical URLs only."
            ),
        },
        "rbac": [
            {
                "role": READ_ROLE,
                "scope": f"{account_scope}/blobServices/default/containers/{container}",
            },
            {
                "role": DELEGATOR_ROLE,
                "scope": account_scope,
                "why": "to sign URLs with a user delegation key",
            },
        ],
        "cors": [
            {
                "allowedOrigins": list(origins),
                "allowedMethods": ["GET", "HEAD"],
                "allowedHeaders": ["*"],
                "exposedHeaders": list(CORS_EXPOSED_HEADERS),
                "maxAgeInSeconds": int(max_age),
            }
        ],
    }


def _cors_allows(rules: list[CorsRule], origin: str) -> bool:
    for rule in rules:
        origins = {o.strip() for o in str(rule.allowed_origins).split(",")}
        methods = {m.strip().upper() for m in str(rule.allowed_methods).split(",")}
        if (origin in origins or "*" in origins) and {"GET", "HEAD"} <= methods:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _info(key: str, props: Any, size: int | None = None) -> ObjectInfo:
    settings = getattr(props, "content_settings", None)
    return ObjectInfo(
        key=key,
        size=size if size is not None else int(props.size or 0),
        etag=strip_etag(props.etag),
        content_type=getattr(settings, "content_type", None),
        last_modified=props.last_modified,
    )


class _BlobStream(io.RawIOBase):
    """A read-only raw stream over a ``StorageStreamDownloader`` (fetched chunk by chunk)."""

    def __init__(self, downloader: Any, read: Callable[[Callable[[], bytes]], bytes]) -> None:
        super().__init__()
        self._downloader = downloader
        self._read = read
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(lambda: self._downloader.read(len(view)))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


def _next_page(pages: Iterator[Any]) -> list[Any] | None:
    page = next(pages, None)
    return None if page is None else list(page)


# ---------------------------------------------------------------------------------------------
# The storage
# ---------------------------------------------------------------------------------------------


class AzureStorage(AccessCheckMixin):
    """``Storage`` over one container + optional prefix of an ``AzureIntegrationConfig``.

    Clients are built lazily, once, thread-safely; ``transport`` replaces the HTTP transport
    (proxies, tests). Retries are azure-storage's ``ExponentialRetry`` policy.
    """

    provider = "azure"
    _head_permission = P_HEAD
    _get_permission = P_GET
    _sign_permission = P_SIGN
    _object_noun = "blob"
    _upload_fix = "upload a blob, or pass a blob name or URL to check"

    def __init__(
        self, config: AzureIntegrationConfig, *, transport: HttpTransport | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.container = config.container
        self.prefix = config.prefix
        self.account_url = normalize_account_url(config.account_url)
        self.account_name = account_name_of(config.account_url)
        self.list_page_size = LIST_PAGE_SIZE
        self._transport = transport
        self._lock = threading.Lock()
        self._key_lock = threading.Lock()
        self._clients: tuple[BlobServiceClient, ContainerClient] | None = None
        self._credential: Any = None
        self._delegation: tuple[UserDelegationKey, datetime] | None = None
        self._sas_token: str | None = None
        self.sas: SasInfo | None = None
        self.sas_expiry: datetime | None = None
        self._load_sas(self._configured_sas())

    def __repr__(self) -> str:
        return (
            f"AzureStorage(name={self.name!r}, account_url={self.account_url!r}, "
            f"container={self.container!r}, prefix={self.prefix!r}, "
            f"auth={self.config.auth.method!r})"
        )

    # -- credentials / clients -----------------------------------------------------------------

    def _conn(self) -> dict[str, str]:
        auth = self.config.auth
        if not isinstance(auth, AzureConnectionStringAuth):
            return {}
        parts = parse_connection_string(auth.connection_string.get_secret_value())
        if parts.get("USEDEVELOPMENTSTORAGE", "").lower() == "true":
            parts.setdefault("ACCOUNTNAME", EMULATOR_ACCOUNT)
            parts.setdefault("ACCOUNTKEY", EMULATOR_KEY)
        return parts

    def _configured_sas(self) -> str | None:
        auth = self.config.auth
        if isinstance(auth, AzureSasAuth):
            return clean_sas_token(auth.sas_token.get_secret_value())
        conn = self._conn()
        token = conn.get("SHAREDACCESSSIGNATURE")
        return clean_sas_token(token) if token and not conn.get("ACCOUNTKEY") else None

    def _load_sas(self, token: str | None) -> None:
        """Parse ``token`` (no request) and warn about a near expiry or missing permissions."""
        self._sas_token = token
        self.sas = parse_sas(token) if token else None
        self.sas_expiry = self.sas.expiry if self.sas else None
        if self.sas is None:
            return
        expiry = self.sas_expiry
        now = utcnow()
        if expiry is not None and expiry <= now:
            log.warning(
                "integration %s: SAS token expired on %s; generate a new one with Read+List "
                "and update sas_token",
                self.name,
                format_time(expiry),
            )
        elif expiry is not None and expiry <= now + SAS_WARN_BEFORE:
            days = (expiry - now).total_seconds() / 86400
            log.warning(
                "integration %s: SAS token expires on %s (in %.1f days); generate a new one "
                "with Read+List and update sas_token",
                self.name,
                format_time(expiry),
                days,
            )
        for problem in self.sas.problems():
            log.warning("integration %s: %s", self.name, problem.text)

    def _account_key(self) -> tuple[str, str] | None:
        """``(account name, key)`` for shared-key auth and signing, else ``None``."""
        auth = self.config.auth
        if isinstance(auth, AzureAccountKeyAuth):
            return self.account_name, auth.account_key.get_secret_value()
        conn = self._conn()
        if conn.get("ACCOUNTKEY"):
            return conn.get("ACCOUNTNAME") or self.account_name, conn["ACCOUNTKEY"]
        return None

    def _build_credential(self) -> Any:
        auth = self.config.auth
        if isinstance(auth, AzureServicePrincipalAuth):
            from azure.identity import ClientSecretCredential

            extra = {"authority": auth.authority_host} if auth.authority_host else {}
            return ClientSecretCredential(
                auth.tenant_id, auth.client_id, auth.client_secret.get_secret_value(), **extra
            )
        key = self._account_key()
        if key is not None:
            return AzureNamedKeyCredential(*key)
        if self._sas_token:
            return AzureSasCredential(self._sas_token)
        raise StorageError(
            f"integration '{self.name}': the connection string has neither AccountKey nor "
            "SharedAccessSignature",
            code="Config",
        )

    def _build_transport(self) -> HttpTransport:
        if self._transport is not None:
            return self._transport
        session = requests.Session()
        size = self.config.max_pool_connections
        adapter = HTTPAdapter(pool_connections=size, pool_maxsize=size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return RequestsTransport(
            session=session,
            session_owner=True,
            connection_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of ``BlobServiceClient``: retries, no HTTP logging, chunk sizes."""
        return {
            "retry_policy": ExponentialRetry(
                initial_backoff=RETRY_INITIAL_BACKOFF,
                increment_base=RETRY_INCREMENT_BASE,
                retry_total=RETRY_TOTAL,
                random_jitter_range=1,
            ),
            "logging_enable": False,
            "logger": http_logger(),
            "http_logging_level": logging.DEBUG,
            "max_single_get_size": DOWNLOAD_CHUNK,
            "max_chunk_get_size": DOWNLOAD_CHUNK,
            "connection_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
        }

    def _check_sas(self) -> None:
        if self.sas is not None:
            error = self.sas.usable_error()
            if error is not None:
                raise error

    def _get_clients(self) -> tuple[BlobServiceClient, ContainerClient]:
        """The cached clients, built once (an unusable SAS raises before any request)."""
        self._check_sas()
        clients = self._clients
        if clients is None:
            with self._lock:
                if self._clients is None:
                    credential = self._build_credential()
                    service = BlobServiceClient(
                        self.account_url,
                        credential=credential,
                        transport=self._build_transport(),
                        **self.client_options(),
                    )
                    self._credential = credential
                    self._clients = (service, service.get_container_client(self.container))
                clients = self._clients
        return clients

    @property
    def service(self) -> BlobServiceClient:
        """The cached ``BlobServiceClient``."""
        return self._get_clients()[0]

    @property
    def container_client(self) -> ContainerClient:
        """The cached ``ContainerClient`` of the integration's container."""
        return self._get_clients()[1]

    @property
    def credential(self) -> Any:
        """The credential object in use (built with the clients)."""
        _ = self.service
        return self._credential

    def rotate_sas(self, new_token: str) -> None:
        """Swap in a new SAS token and rebuild the clients.

        Registered files stay valid: the catalog holds canonical URLs, never the token. An
        expired or malformed token is refused and the current one kept.
        """
        if not isinstance(self.config.auth, AzureSasAuth):
            raise ValueError(f"integration '{self.name}' does not use sas auth")
        token = clean_sas_token(new_token)
        error = parse_sas(token).usable_error()
        if error is not None:
            raise error
        with self._lock:
            self.config = self.config.model_copy(
                update={"auth": AzureSasAuth(method="sas", sas_token=token)}
            )
            self._load_sas(token)
            self._clients = None
            self._credential = None
        log.info("integration %s: SAS token rotated", self.name)

    # -- URLs -----------------------------------------------------------------------------------

    def parse_url(self, url: str) -> str:
        """The blob name of ``url``; ``UrlError`` if it is not in this container / prefix."""
        loc = parse_azure_url(url, account_url=self.account_url)
        if loc.container != self.container:
            raise UrlError(
                f"belongs to container '{loc.container}' of account '{self.account_name}', "
                f"but integration '{self.name}' reads container '{self.container}'"
            )
        if not loc.blob.startswith(self.prefix):
            raise UrlError(f"blob is outside the integration prefix '{self.prefix}'")
        return loc.blob

    def canonical_url(self, key: str) -> str:
        """``ACCOUNT_URL/CONTAINER/BLOB`` (percent-encoded, never a query string)."""
        return f"{self.account_url}/{self.container}/{encode_blob_for_url(key)}"

    def record_key(self, key: str) -> str:
        """The key as stored in the catalog (blob names are kept as they are)."""
        return key

    # -- calls ----------------------------------------------------------------------------------

    def _call(self, operation: str, target: str, fn: Callable[[], T], affects: str = "") -> T:
        """``call_azure`` plus, for a 403 under a SAS, what the token itself lacks."""
        try:
            return call_azure(fn, operation, target, endpoint=self.account_url)
        except StorageError as err:
            hint = self._sas_hint(err, affects)
            if hint:
                err.args = (f"{err.args[0]}; {hint}",)
            raise

    def _sas_hint(self, err: StorageError, affects: str) -> str:
        if self.sas is None or not affects or err.code not in ("AccessDenied", "Auth"):
            return ""
        return "; ".join(p.text for p in self.sas.problems() if affects in p.breaks)

    # -- reads ----------------------------------------------------------------------------------

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Blobs under the integration prefix + ``prefix`` in name order, after ``start_after``."""
        full_prefix = self.prefix + prefix
        target = self.canonical_url(full_prefix)
        pages = self._call(
            "ListBlobs",
            target,
            lambda: self.container_client.list_blobs(
                name_starts_with=full_prefix or None, results_per_page=self.list_page_size
            ).by_page(),
            "list",
        )
        while True:
            page = self._call("ListBlobs", target, lambda: _next_page(pages), "list")
            if page is None:
                return
            for props in page:
                if not (start_after and props.name <= start_after):
                    yield _info(props.name, props)

    def head(self, key: str) -> ObjectInfo:
        blob = self.container_client.get_blob_client(key)
        props = self._call(
            "GetBlobProperties", self.canonical_url(key), blob.get_blob_properties, "read"
        )
        return _info(key, props)

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """``length`` bytes from ``start``; ``info.size`` is the whole blob's size."""
        if start < 0 or length <= 0:
            raise ValueError("read_range needs start >= 0 and length > 0")
        blob = self.container_client.get_blob_client(key)
        target = self.canonical_url(key)
        try:
            downloader = self._call(
                "GetBlob", target, lambda: blob.download_blob(offset=start, length=length), "read"
            )
            data = self._call("GetBlob", target, downloader.readall, "read")
        except StorageError as err:
            if err.code == "InvalidRange":
                info = self.head(key)
                if info.size == 0:
                    return RangeRead(b"", info)
            raise
        props = downloader.properties
        size = total_size(props.content_range)
        return RangeRead(bytes(data), _info(key, props, size=size))

    def open_stream(self, key: str) -> BinaryIO:
        """A buffered stream over the blob, fetched ``DOWNLOAD_CHUNK`` bytes at a time."""
        blob = self.container_client.get_blob_client(key)
        target = self.canonical_url(key)
        downloader = self._call("GetBlob", target, blob.download_blob, "read")
        raw = _BlobStream(downloader, lambda fn: self._call("GetBlob", target, fn, "read"))
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=STREAM_BUFFER))

    # -- signing --------------------------------------------------------------------------------

    def sign(self, key: str, ttl_seconds: int = 3600) -> str:
        """A GET URL for ``key`` valid ``clamp_ttl(ttl_seconds)``; never stored or logged.

        Account key / connection string: a service SAS signed locally. Service principal: a
        user delegation SAS (the delegation key is fetched once and cached until near its
        expiry). SAS auth: we cannot mint a token, so the URL carries the configured SAS and
        its lifetime is that token's, whatever ``ttl_seconds`` says.
        """
        target = self.canonical_url(key)
        if self._sas_token is not None:
            self._check_sas()
            return f"{target}?{self._sas_token}"
        now = utcnow()
        ttl = clamp_ttl(ttl_seconds)
        options: dict[str, Any] = {
            "permission": BlobSasPermissions(read=True),
            "expiry": now + timedelta(seconds=ttl),
        }
        if self.account_url.startswith("https://"):
            options["protocol"] = "https"
        key_pair = self._account_key()
        if key_pair is not None:
            account, secret = key_pair
            sas = generate_blob_sas(account, self.container, key, account_key=secret, **options)
        else:
            delegation = self._delegation_key(now, ttl)
            sas = generate_blob_sas(
                self.account_name, self.container, key, user_delegation_key=delegation, **options
            )
        return f"{target}?{sas}"

    def _delegation_key(self, now: datetime, ttl: int) -> UserDelegationKey:
        """A cached user delegation key valid at least ``ttl`` seconds more."""
        needed = now + timedelta(seconds=ttl) + CLOCK_SKEW
        cached = self._delegation
        if cached is not None and cached[1] >= needed:
            return cached[0]
        service = self.service
        with self._key_lock:
            if self._delegation is None or self._delegation[1] < needed:
                expiry = now + DELEGATION_KEY_LIFETIME
                key = call_azure(
                    lambda: service.get_user_delegation_key(now - CLOCK_SKEW, expiry),
                    "GetUserDelegationKey",
                    self.account_url,
                    endpoint=self.account_url,
                )
                self._delegation = (key, expiry)
            return self._delegation[0]

    # -- setup ----------------------------------------------------------------------------------

    def setup_guide(self, origins: list[str], max_age: int = 3600) -> dict[str, Any]:
        """SAS fields, RBAC role assignments and CORS rule for this account and container."""
        return setup_guide_for(self.account_name, self.container, origins, max_age)

    def check_cors(self, origins: list[str]) -> AccessCheck:
        """Read the Blob service CORS rules (needs account-level rights) and compare."""
        try:
            props = call_azure(
                self.service.get_service_properties,
                "GetBlobServiceProperties",
                self.account_url,
                endpoint=self.account_url,
            )
        except StorageError as err:
            fix = (
                "cannot read CORS rules with this credential; in the portal, Resource sharing "
                f"(CORS) → Blob service: add CORS rule for origin {', '.join(origins)} "
                "(GET, HEAD; exposed headers Content-Length, Content-Range, Accept-Ranges, ETag)"
            )
            return AccessCheck(P_CORS, False, str(err), fix)
        rules = list(props.get("cors") or [])
        missing = [o for o in origins if not _cors_allows(rules, o)]
        if missing:
            fix = (
                f"add CORS rule for origin {', '.join(missing)}: allowed methods GET, HEAD; "
                "allowed headers *; exposed headers Content-Length, Content-Range, "
                "Accept-Ranges, ETag (see setup_guide)"
            )
            return AccessCheck(P_CORS, False, f"no CORS rule allows GET from {missing[0]}", fix)
        return AccessCheck(P_CORS, True, f"CORS allows GET, HEAD from {', '.join(origins)}")

    # -- diagnostics ----------------------------------------------------------------------------

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe the SAS token (locally), List Blobs, Get Blob Properties, a ranged Get Blob
        and signing, each with the Azure error code and a concrete fix."""
        rows = self._sas_rows()
        if rows and not rows[0].ok:
            reason = "not tried: the SAS token is unusable"
            return rows + [AccessCheck(p, False, reason) for p in (P_LIST, P_HEAD, P_GET, P_SIGN)]
        first: list[str] = []
        rows.append(self._probe(P_LIST, lambda: self._probe_list(first)))
        key = self._check_key(url_or_key, first, rows)
        rows += self._object_rows(key, rows)
        rows.append(self._sign_row(key))
        return rows

    def _sas_rows(self) -> list[AccessCheck]:
        if self.sas is None:
            return []
        error = self.sas.usable_error()
        if error is not None:
            fix = "generate a new SAS (Allowed services Blob, resource types Container + Object, "
            fix += "permissions Read + List) and update sas_token"
            return [AccessCheck(P_SAS, False, str(error), fix)]
        rows = [self._expiry_row()]
        problems = self.sas.problems()
        if problems:
            fix = (
                f"{REGENERATE} (sp=rl), Allowed services Blob (ss=b) and resource types "
                "Container + Object (srt=co), then update sas_token"
            )
            rows.append(AccessCheck(P_SAS_PERMS, False, "; ".join(p.text for p in problems), fix))
        else:
            rows.append(AccessCheck(P_SAS_PERMS, True, f"grants {self.sas.permissions or '?'}"))
        extra = self.sas.extra_permissions()
        if extra:
            detail = f"warning: the SAS grants more than Read+List: {', '.join(extra)}"
            fix = "a read-only SAS (sp=rl) is enough: regenerate it with Read and List only"
            rows.append(AccessCheck(P_SAS_SCOPE, True, detail, fix))
        return rows

    def _expiry_row(self) -> AccessCheck:
        expiry = self.sas_expiry
        if expiry is None:
            return AccessCheck(P_SAS, True, "expiry set by a stored access policy (si=)")
        left = expiry - utcnow()
        detail = f"expires {format_time(expiry)} (in {left.days} days)"
        if left <= SAS_WARN_BEFORE:
            fix = "generate a new SAS with Read+List before then and update sas_token"
            return AccessCheck(P_SAS, True, f"warning: {detail}", fix)
        return AccessCheck(P_SAS, True, detail)

    def _probe_list(self, first: list[str]) -> str:
        def one() -> list[str]:
            pages = self.container_client.list_blobs(
                name_starts_with=self.prefix or None, results_per_page=1
            ).by_page()
            return [b.name for b in next(pages, [])][:1]

        first.extend(self._call("ListBlobs", self.canonical_url(self.prefix), one, "list"))
        return f"listed {len(first)} blob(s) under {self.canonical_url(self.prefix)}"

    def _probe_sign(self, key: str) -> str:
        self.sign(key)
        if self._sas_token is not None:
            return "URL carries the configured SAS (its expiry is the URL's), not fetched"
        if self._account_key() is not None:
            return "service SAS signed locally with the account key, not fetched"
        return "user delegation SAS signed (delegation key fetched), not fetched"

    def fix_for(self, permission: str, err: StorageError) -> str:
        """A concrete next step for a failed probe."""
        provider = getattr(err, "provider_code", err.code)
        if err.code in ("AccessDenied", "Auth"):
            return f"{provider}: {self._grant_for(permission, provider, err.code)}"
        if provider == "ContainerNotFound" or (err.code == "NotFound" and permission == P_LIST):
            return (
                f"ContainerNotFound: container '{self.container}' does not exist in account "
                f"'{self.account_name}'; check container and account_url"
            )
        if err.code == "NotFound":
            return (
                f"{provider}: no blob with this name; check the name (case-sensitive) and that "
                f"it lies under '{self.prefix}'"
            )
        return _GENERIC_FIXES.get(err.code, f"{provider}: see detail")

    def _grant_for(self, permission: str, provider: str, code: str) -> str:
        auth = self.config.auth
        if self._sas_token is not None:
            return self._sas_fix(provider)
        if isinstance(auth, AzureServicePrincipalAuth):
            if code == "Auth":
                return (
                    "check tenant_id, client_id and client_secret (the secret may have expired "
                    "in the app registration)"
                )
            guide = self.setup_guide(["*"])["rbac"]
            if permission == P_SIGN:
                return (
                    f"assign the {DELEGATOR_ROLE} role to the service principal on the "
                    f"storage account (scope {guide[1]['scope']})"
                )
            return (
                f"assign the {READ_ROLE} role to the service principal on the container "
                f"(scope {guide[0]['scope']}); role assignments take up to 10 minutes to apply"
            )
        if provider == "KeyBasedAuthenticationNotPermitted":
            return "shared key access is disabled on the account: use a service principal"
        if provider == "AuthorizationFailure":
            return (
                "the account firewall may block this machine (Networking → Firewalls and "
                "virtual networks), or the key is wrong"
            )
        return "check the account key (Access keys blade; it may have been rotated)"

    def _sas_fix(self, provider: str) -> str:
        if provider == "AuthorizationPermissionMismatch":
            return f"the SAS lacks a permission: {REGENERATE} (sp=rl)"
        if provider == "AuthorizationResourceTypeMismatch":
            return "the SAS lacks a resource type: regenerate it with Container + Object (srt=co)"
        if provider == "AuthorizationServiceMismatch":
            return "the SAS is not for the Blob service: regenerate it with Allowed services Blob"
        if provider == "AuthorizationSourceIPMismatch":
            return "the SAS is limited to other IP addresses (sip=): regenerate it"
        return (
            "the SAS signature does not match (or the account firewall blocks this machine): "
            f"{REGENERATE} and update sas_token"
        )


_GENERIC_FIXES = {
    "Network": "endpoint unreachable: check account_url, DNS, proxy and firewall",
    "Throttled": "throttled by Azure: transient, retry later",
    "ServerError": "Azure server error: transient, retry later",
    "InvalidRange": "InvalidRange: the blob is shorter than the requested range",
    "Config": "fix the integration's auth settings",
}
