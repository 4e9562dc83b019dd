"""Google Cloud Storage: one bucket + optional prefix, read in place.

Object URLs accepted by :func:`parse_gcs_url`:

* ``gs://bucket/key`` — the key is taken literally (no percent-decoding);
* path style ``https://storage.googleapis.com/bucket/key`` and the browser download host
  ``https://storage.cloud.google.com/bucket/key``;
* virtual-hosted ``https://bucket.storage.googleapis.com/key``;
* JSON API ``https://storage.googleapis.com/[download/]storage/v1/b/bucket/o/key``;
* with ``endpoint_url`` (emulator, private endpoint): ``ENDPOINT/bucket/key`` and
  ``ENDPOINT/[download/]storage/v1/b/bucket/o/key``.

In http(s) URLs the key must be percent-encoded UTF-8 (spaces as ``%20``, never ``+``); a query
string (signed URL, ``alt=media``) is allowed and ignored. Messages show URLs only through
:func:`~orchestration_pkg.core.urls.redact_url`.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import islice
from typing import Any, BinaryIO, cast
from urllib.parse import SplitResult, urlsplit

import google.auth
import requests
import urllib3
from google.api_core.exceptions import GoogleAPICallError, GoogleAPIError, RetryError
from google.auth.credentials import AnonymousCredentials, Credentials, Signing
from google.auth.exceptions import GoogleAuthError
from google.auth.exceptions import TimeoutError as AuthTimeoutError
from google.auth.exceptions import TransportError as AuthTransportError
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import AccessCheckMixin
from orchestration_pkg.core.config import (
    GCSAnonymousAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.errors import StorageError, UrlError, provider_error
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import AccessCheck, RangeRead, clamp_ttl, strip_etag
from orchestration_pkg.core.urls import (
    check_key_size,
    check_url_characters,
    check_url_string,
    decode_url_key,
    url_error,
    url_port,
)

log = logging.getLogger(__name__)

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
GOOGLE_ENDPOINT = "https://storage.googleapis.com"
# Idempotent reads only: the library's predicate (429, 408, 5xx, connection errors), 30 s total.
RETRY = DEFAULT_RETRY.with_timeout(30.0)
TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
LIST_PAGE_SIZE = 1000
LIST_FIELDS = "items(name,size,etag,contentType,updated),nextPageToken"
STREAM_CHUNK_SIZE = 8 * 1024 * 1024
MAX_KEY_BYTES = 1024
CORS_RESPONSE_HEADERS = ["Content-Type", "Content-Range", "Accept-Ranges", "ETag"]
MEMBER_PLACEHOLDER = "serviceAccount:SERVICE_ACCOUNT_EMAIL"
SIGNING_FIX = (
    "use auth method service_account with a JSON key file, or run as a service account "
    "that holds roles/iam.serviceAccountTokenCreator on itself (IAM signBlob)"
)

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``access``).
P_LIST = "storage.objects.list"
P_HEAD = "storage.objects.get (metadata)"
P_GET = "storage.objects.get (ranged read)"
P_SIGN = "sign (V4)"

_BUCKET_CHARS = re.compile(r"^[a-z0-9._-]+$")
_IPV4_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.storage\.googleapis\.com$")
_PATH_HOSTS = ("storage.googleapis.com", "storage.cloud.google.com")
_JSON_API_PATH = re.compile(r"^/(?:download/)?storage/v1/b/(?P<bucket>[^/]+)/o/(?P<key>.+)$")
_CONTENT_RANGE_TOTAL = re.compile(r"^bytes\s+\S+/(\d+)\s*$")
_REASON = re.compile(r"^[A-Za-z]{1,64}$")
_PLAIN_REASONS = {"notfound", "forbidden", "required", "unauthorized"}

# ---------------------------------------------------------------------------------------------
# URLs (pure)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GCSLocation:
    """Where an object lives: bucket, decoded key and the URL form (gs/path/virtual/json/
    endpoint)."""

    bucket: str
    key: str
    style: str


def validate_gcs_bucket_name(name: str) -> None:
    """Raise ``UrlError(field="bucket")`` unless ``name`` follows the GCS bucket naming rules."""
    reason = _bucket_problem(name)
    if reason:
        raise UrlError(f"invalid bucket name {name[:70]!r}: {reason}", "bucket")


def _bucket_problem(name: str) -> str | None:
    parts = name.split(".")
    if not 3 <= len(name) <= (222 if len(parts) > 1 else 63):
        return "must be 3 to 63 characters long (222 with dots)"
    if not _BUCKET_CHARS.match(name):
        return "only lowercase letters, digits, dots, hyphens and underscores are allowed"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must begin and end with a letter or digit"
    if any(not 1 <= len(part) <= 63 for part in parts):
        return "each dot-separated part must be 1 to 63 characters long"
    if _IPV4_LIKE.match(name):
        return "must not look like an IP address"
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return "must not start with 'goog' or contain 'google'"
    return None


def parse_gcs_url(url: str, *, endpoint_url: str | None = None) -> GCSLocation:
    """Parse a Cloud Storage object URL into a :class:`GCSLocation`; ``UrlError`` if not one.

    ``endpoint_url`` (e.g. an emulator's ``http://127.0.0.1:9023``) additionally accepts URLs
    on that server (style ``"endpoint"``).
    """
    check_url_string(url)
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise url_error(
            url, "not a URL: expected gs://bucket/key or https://storage.googleapis.com/bucket/key"
        )
    scheme = scheme.lower()
    if scheme == "gs":
        return _parse_gs_scheme(url)
    if scheme in ("http", "https"):
        return _parse_http(url, endpoint_url)
    raise url_error(
        url, f"unsupported scheme {scheme[:20]!r}: use gs://bucket/key or an https GCS URL"
    )


def _parse_gs_scheme(url: str) -> GCSLocation:
    """``gs://bucket/key``: the key is literal, nothing is decoded."""
    bucket, _, key = url.partition("://")[2].partition("/")
    if not bucket:
        raise url_error(url, "no bucket in gs:// URL", "bucket")
    validate_gcs_bucket_name(bucket)
    _check_key(url, key)
    return GCSLocation(bucket=bucket, key=key, style="gs")


def _parse_http(url: str, endpoint_url: str | None) -> GCSLocation:
    check_url_characters(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise url_error(url, "malformed URL") from None
    if "@" in parts.netloc:
        raise url_error(url, "user name or password in the URL is not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise url_error(url, "no host in URL")
    endpoint = _endpoint_location(url, parts, endpoint_url)
    if endpoint is not None:
        return endpoint
    if host == _PATH_HOSTS[0]:
        return _api_or_path(url, parts.path, "path", json_api=True)
    if host in _PATH_HOSTS:
        return _api_or_path(url, parts.path, "path", json_api=False)
    match = _VIRTUAL_HOST.match(host)
    if match:
        return _located(url, match["bucket"], parts.path[1:], "virtual")
    raise url_error(
        url,
        f"host {parts.netloc} is not a Cloud Storage endpoint; use gs://bucket/key or the "
        "integration's endpoint_url",
    )


def _endpoint_location(
    url: str, parts: SplitResult, endpoint_url: str | None
) -> GCSLocation | None:
    """Parse ``url`` against ``endpoint_url``; ``None`` if the URL is not on that endpoint."""
    if not endpoint_url:
        return None
    end = urlsplit(endpoint_url)
    if (end.hostname or "").lower() != (parts.hostname or "").lower() or not end.hostname:
        return None
    if parts.scheme.lower() != end.scheme.lower() or url_port(parts) != url_port(end):
        return None
    base = end.path.rstrip("/")
    if base and not (parts.path == base or parts.path.startswith(base + "/")):
        return None
    return _api_or_path(url, parts.path[len(base) :], "endpoint", json_api=True)


def _api_or_path(url: str, path: str, style: str, *, json_api: bool) -> GCSLocation:
    """``/storage/v1/b/BUCKET/o/KEY`` (JSON API, if allowed) or ``/BUCKET/KEY``."""
    match = _JSON_API_PATH.match(path) if json_api else None
    if match:
        return _located(url, match["bucket"], match["key"], "json" if style == "path" else style)
    bucket, _, raw_key = path[1:].partition("/") if path.startswith("/") else ("", "", "")
    if not bucket:
        raise url_error(url, "no bucket in URL path (expected /bucket/key)", "bucket")
    return _located(url, bucket, raw_key, style)


def _located(url: str, bucket: str, raw_key: str, style: str) -> GCSLocation:
    validate_gcs_bucket_name(bucket)
    key = decode_url_key(url, raw_key)
    _check_key(url, key)
    return GCSLocation(bucket=bucket, key=key, style=style)


def _check_key(url: str, key: str) -> None:
    """GCS object names: 1..1024 UTF-8 bytes, no CR/LF, not '.' or '..'."""
    check_key_size(url, key, provider="GCS", max_bytes=MAX_KEY_BYTES)
    if "\r" in key or "\n" in key:
        raise url_error(url, "object key contains a carriage return or line feed", "key")
    if key in (".", ".."):
        raise url_error(url, "object key must not be '.' or '..'", "key")


# ---------------------------------------------------------------------------------------------
# Error mapping
# ---------------------------------------------------------------------------------------------

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


def safe_endpoint(url: str | None) -> str:
    """``scheme://host:port`` of ``url``: no user info, path or (signed) query string."""
    try:
        parts = urlsplit(url or "")
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the endpoint"
    if not parts.hostname:
        return "the endpoint"
    return f"{parts.scheme}://{parts.hostname}{port}"


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
    if isinstance(exc, _NETWORK_ERRORS):
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
    """Re-raise Google client errors raised inside the block as ``StorageError``."""
    try:
        yield
    except MAPPED_ERRORS as exc:
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


# ---------------------------------------------------------------------------------------------
# Policies (pure)
# ---------------------------------------------------------------------------------------------


def _cel_string(value: str) -> str:
    """A CEL string literal (JSON escaping is valid CEL: quotes, backslashes, \\uXXXX)."""
    return json.dumps(value)


def prefix_condition(bucket: str, prefix: str) -> dict[str, str]:
    """IAM condition limiting object reads to ``prefix`` and listing to list-prefixes under it."""
    objects = _cel_string(f"projects/_/buckets/{bucket}/objects/{prefix}")
    expression = (
        f"resource.name.startsWith({objects}) || "
        'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
        f".startsWith({_cel_string(prefix)})"
    )
    return {
        "title": "orchestration-pkg prefix",
        "description": f"read and list only gs://{bucket}/{prefix}",
        "expression": expression,
    }


def iam_bindings_for(
    bucket: str, prefix: str = "", member: str = MEMBER_PLACEHOLDER
) -> dict[str, Any]:
    """Bucket IAM bindings: objectViewer (prefix-conditioned when a prefix is set).

    Without a prefix ``roles/storage.legacyBucketReader`` adds ``storage.buckets.get``. With a
    prefix it is left out: legacy roles take no IAM condition and would list the whole bucket.
    """
    viewer: dict[str, Any] = {"role": "roles/storage.objectViewer", "members": [member]}
    bindings = [viewer]
    if prefix:
        viewer["condition"] = prefix_condition(bucket, prefix)
    else:
        bindings.append({"role": "roles/storage.legacyBucketReader", "members": [member]})
    return {"resource": f"projects/_/buckets/{bucket}", "bindings": bindings}


def cors_config_for(origins: list[str], max_age: int = 3600) -> list[dict[str, Any]]:
    """Bucket CORS (``gcloud storage buckets update --cors-file`` shape) for browser GET/HEAD."""
    if not origins:
        raise ValueError("give at least one allowed origin")
    return [
        {
            "origin": list(origins),
            "method": ["GET", "HEAD"],
            "responseHeader": list(CORS_RESPONSE_HEADERS),
            "maxAgeSeconds": int(max_age),
        }
    ]


def setup_notes(bucket: str, prefix: str) -> list[str]:
    notes = [
        f"Apply the bindings with: gcloud storage buckets add-iam-policy-binding gs://{bucket} "
        "--member=MEMBER --role=ROLE [--condition=...]",
        f"Apply CORS with: gcloud storage buckets update gs://{bucket} --cors-file=cors.json",
        f"Signed URLs need a service-account key, or: {SIGNING_FIX}.",
        "Signed URLs are valid 15 minutes to 24 hours.",
    ]
    if prefix:
        notes.insert(1, "IAM conditions need uniform bucket-level access on the bucket.")
    return notes


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def total_size(content_range: str | None) -> int | None:
    """Total object size from ``Content-Range: bytes a-b/TOTAL`` (None if unknown)."""
    match = _CONTENT_RANGE_TOTAL.match(content_range or "")
    return int(match.group(1)) if match else None


def _http_date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def _blob_info(blob: storage.Blob) -> ObjectInfo:
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size) if blob.size is not None else None,
        etag=strip_etag(blob.etag),
        content_type=blob.content_type,
        last_modified=blob.updated,
    )


def authorized_session(credentials: Credentials, pool_size: int) -> AuthorizedSession:
    """A requests session signing with ``credentials`` and pooling ``pool_size`` connections."""
    session = AuthorizedSession(credentials)
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _RangeBlob(storage.Blob):
    """A blob that keeps the status and headers of its last download response.

    ``download_as_bytes`` hands the response to ``_extract_headers_from_download``; keeping its
    headers gives the total size (``Content-Range``) without a second, metadata request.
    """

    last_status: int | None = None
    last_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()

    def _extract_headers_from_download(self, response: Any) -> None:
        super()._extract_headers_from_download(response)
        self.last_status = getattr(response, "status_code", None)
        self.last_headers = CaseInsensitiveDict(response.headers)


class _MappedReader(io.BufferedIOBase):
    """Read-only stream over a ``BlobReader`` whose errors come out as ``StorageError``."""

    def __init__(self, inner: Any, target: str, endpoint: str | None) -> None:
        super().__init__()
        self._inner = inner
        self._target = target
        self._endpoint = endpoint

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        with mapped_errors("GetObject", self._target, self._endpoint):
            return self._inner.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


# ---------------------------------------------------------------------------------------------
# The storage
# ---------------------------------------------------------------------------------------------


class GCSStorage(AccessCheckMixin):
    """``Storage`` over one GCS bucket + optional prefix of a ``GCSIntegrationConfig``.

    ``credentials`` replaces the configured ones. The client is built lazily, once,
    thread-safely; ``STORAGE_EMULATOR_HOST`` is honoured (by the library) when no
    ``endpoint_url`` is configured.
    """

    provider = "gcs"
    _head_permission = P_HEAD
    _get_permission = P_GET
    _sign_permission = P_SIGN

    def __init__(
        self, config: GCSIntegrationConfig, *, credentials: Credentials | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.bucket = config.bucket
        self.prefix = config.prefix
        self._given_credentials = credentials
        self._credentials: Credentials | None = None
        self._client: storage.Client | None = None
        self._client_email: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        endpoint = f", endpoint={safe_endpoint(self.endpoint_url)!r}" if self.endpoint_url else ""
        return (
            f"GCSStorage(name={self.name!r}, bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"auth={self.config.auth.method!r}{endpoint})"
        )

    # -- client / credentials ------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str | None:
        """The configured endpoint, else ``$STORAGE_EMULATOR_HOST``, else None (Google)."""
        return self.config.endpoint_url or os.environ.get(EMULATOR_ENV) or None

    @property
    def client(self) -> storage.Client:
        """The cached ``google.cloud.storage.Client`` (raises ``StorageError`` on bad auth)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    @property
    def credentials(self) -> Credentials:
        _ = self.client
        return cast(Credentials, self._credentials)

    def _build_client(self) -> storage.Client:
        with mapped_errors("LoadCredentials", self.canonical_url(""), self.endpoint_url):
            credentials = self._given_credentials or self._load_credentials()
        options = {"api_endpoint": self.config.endpoint_url} if self.config.endpoint_url else None
        client = storage.Client(
            project=self.config.project,
            credentials=credentials,
            client_options=options,
            _http=authorized_session(credentials, self.config.max_pool_connections),
        )
        # google-cloud-storage >= 3.x fetches bucket metadata (buckets.get) in a background
        # thread for tracing attributes: one more request, thread and permission per bucket.
        if getattr(client, "_bucket_metadata_cache", None) is not None:
            client._bucket_metadata_cache = None
        self._credentials = credentials
        log.debug(
            "integration %s: GCS client for gs://%s (auth %s, endpoint %s)",
            self.name,
            self.bucket,
            self.config.auth.method,
            safe_endpoint(self.endpoint_url) if self.endpoint_url else GOOGLE_ENDPOINT,
        )
        return client

    def _load_credentials(self) -> Credentials:
        auth = self.config.auth
        if isinstance(auth, GCSAnonymousAuth):
            return AnonymousCredentials()
        if isinstance(auth, GCSServiceAccountAuth):
            return _key_file_credentials(auth.key_file)
        credentials, _ = google.auth.default(scopes=[READ_ONLY_SCOPE])
        return credentials

    def _bucket(self) -> storage.Bucket:
        return self.client.bucket(self.bucket)

    def _target(self, key: str) -> str:
        return self.canonical_url(key)

    @contextmanager
    def _mapped(self, operation: str, key: str) -> Iterator[None]:
        with mapped_errors(operation, self._target(key), self.endpoint_url):
            yield

    # -- URLs -----------------------------------------------------------------------------------

    def parse_url(self, url: str) -> str:
        """The key of ``url``; ``UrlError`` if it is not inside this bucket / prefix."""
        loc = parse_gcs_url(url, endpoint_url=self.endpoint_url)
        if loc.bucket != self.bucket:
            raise UrlError(
                f"belongs to bucket '{loc.bucket}', but integration '{self.name}' "
                f"reads bucket '{self.bucket}'"
            )
        if not loc.key.startswith(self.prefix):
            raise UrlError(f"key is outside the integration prefix '{self.prefix}'")
        return loc.key

    def canonical_url(self, key: str) -> str:
        return f"gs://{self.bucket}/{key}"

    def record_key(self, key: str) -> str:
        """The key as recorded in the catalog (GCS keys are stored as they are)."""
        return key

    # -- reads ----------------------------------------------------------------------------------

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Objects under the integration prefix + ``prefix``, in key order, 1000 per page.

        ``start_offset`` is inclusive on GCS (and ignored by some emulators), so keys up to
        and including ``start_after`` are also skipped here.
        """
        full_prefix = self.prefix + prefix
        with self._mapped("ListObjects", full_prefix):
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=full_prefix,
                start_offset=start_after or None,
                page_size=LIST_PAGE_SIZE,
                fields=LIST_FIELDS,
                retry=RETRY,
                timeout=TIMEOUT,
            )
            for blob in blobs:
                if start_after and blob.name <= start_after:
                    continue
                yield _blob_info(blob)

    def head(self, key: str) -> ObjectInfo:
        """Object metadata (``objects.get``); ``StorageError(code='NotFound')`` if missing."""
        with self._mapped("GetObjectMetadata", key):
            blob = self._bucket().blob(key)
            blob.reload(retry=RETRY, timeout=TIMEOUT)
        return _blob_info(blob)

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """``length`` bytes from ``start``; ``info.size`` is the whole object's size.

        One media request: the total size comes from its ``Content-Range`` (or from the body
        when the server answers 200 with the whole object). Only a 416 costs a metadata
        request, to tell a zero-byte object from a range past the end.
        """
        if start < 0 or length <= 0:
            raise ValueError("read_range needs start >= 0 and length > 0")
        blob = _RangeBlob(key, self._bucket())
        try:
            with self._mapped("GetObject", key):
                data = blob.download_as_bytes(
                    start=start,
                    end=start + length - 1,
                    raw_download=True,
                    checksum=None,
                    retry=RETRY,
                    timeout=TIMEOUT,
                )
        except StorageError as err:
            if err.code == "InvalidRange":
                info = self.head(key)
                if info.size == 0:
                    return RangeRead(b"", info)
            raise
        return self._range_result(key, blob, data, start, length)

    def _range_result(
        self, key: str, blob: _RangeBlob, data: bytes, start: int, length: int
    ) -> RangeRead:
        headers = blob.last_headers
        size = total_size(headers.get("Content-Range"))
        if size is None and blob.last_status == 200:  # Range ignored: the body is everything
            size = len(data)
            data = data[start : start + length]
        if size is None:
            stored = headers.get("X-Goog-Stored-Content-Length", "")
            size = int(stored) if stored.isdigit() else None
        info = ObjectInfo(
            key=key,
            size=size,
            etag=strip_etag(headers.get("ETag")),
            content_type=headers.get("Content-Type"),
            last_modified=_http_date(headers.get("Last-Modified")),
        )
        if size is not None and 0 < size <= start:  # some emulators answer 206 + empty body
            shown = f"range starts at {start}, object has {size} bytes"
            raise StorageError(
                f"{self._target(key)}: GetObject InvalidRange (416: {shown})", code="InvalidRange"
            )
        return RangeRead(data, info)

    def open_stream(self, key: str) -> BinaryIO:
        """A streaming reader (8 MiB ranged reads) pinned to the current generation.

        The metadata request up front reports a missing object at once and fixes the
        generation, so an overwrite during the read cannot mix two versions.
        """
        with self._mapped("GetObjectMetadata", key):
            blob = self._bucket().blob(key)
            blob.reload(retry=RETRY, timeout=TIMEOUT)
            reader = blob.open("rb", chunk_size=STREAM_CHUNK_SIZE, retry=RETRY, timeout=TIMEOUT)
        return cast(BinaryIO, _MappedReader(reader, self._target(key), self.endpoint_url))

    # -- signing --------------------------------------------------------------------------------

    def sign(self, key: str, ttl_seconds: int = 3600) -> str:
        """A V4 signed GET URL valid ``clamp_ttl(ttl_seconds)``; never logged.

        Needs credentials that can sign: a service-account key (signed locally) or a service
        account identity allowed to call IAM signBlob; otherwise ``SigningUnavailable``.
        """
        credentials = self._signing_credentials(key)
        with self._mapped("SignUrl", key):
            return (
                self._bucket()
                .blob(key)
                .generate_signed_url(
                    version="v4",
                    expiration=timedelta(seconds=clamp_ttl(ttl_seconds)),
                    method="GET",
                    credentials=credentials,
                )
            )

    def _signing_credentials(self, key: str) -> Credentials:
        if isinstance(self.config.auth, GCSAnonymousAuth) and self._given_credentials is None:
            raise signing_unavailable(self._target(key), "anonymous credentials cannot sign")
        credentials = self.credentials
        if isinstance(credentials, AnonymousCredentials):
            raise signing_unavailable(self._target(key), "anonymous credentials cannot sign")
        if not isinstance(credentials, Signing):
            kind = type(credentials).__name__
            raise signing_unavailable(self._target(key), f"{kind} credentials cannot sign")
        if not isinstance(credentials, service_account.Credentials) and not credentials.valid:
            with self._lock, self._mapped("RefreshCredentials", key):
                credentials.refresh(Request())  # signer e-mail of ADC is known after a refresh
        return cast(Credentials, credentials)

    # -- policies -------------------------------------------------------------------------------

    def principal(self) -> str | None:
        """``serviceAccount:EMAIL`` of the credentials, when known without a network call."""
        email = self._client_email
        auth = self.config.auth
        if email is None and isinstance(auth, GCSServiceAccountAuth):
            email = self._client_email = _key_file_email(auth.key_file)
        if email is None and self._credentials is not None:
            candidate = getattr(self._credentials, "service_account_email", None)
            email = candidate if isinstance(candidate, str) and "@" in candidate else None
        return f"serviceAccount:{email}" if email else None

    def iam_bindings(self) -> dict[str, Any]:
        return iam_bindings_for(self.bucket, self.prefix, self.principal() or MEMBER_PLACEHOLDER)

    def cors_config(self, origins: list[str], max_age: int = 3600) -> list[dict[str, Any]]:
        return cors_config_for(origins, max_age)

    def setup_guide(self, origins: list[str], max_age: int = 3600) -> dict[str, Any]:
        """What the bucket owner applies: IAM bindings, CORS rules and short notes."""
        return {
            "iam": self.iam_bindings(),
            "cors": self.cors_config(origins, max_age),
            "notes": setup_notes(self.bucket, self.prefix),
        }

    # -- diagnostics ----------------------------------------------------------------------------

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe objects.list, objects.get (metadata and ranged read) and V4 signing."""
        first: list[str] = []
        rows = [self._probe(P_LIST, lambda: self._probe_list(first))]
        key = self._check_key(url_or_key, first, rows)
        if key is not None and self._bucket_missing(rows[0]):
            reason = f"not tried: bucket '{self.bucket}' does not exist"
            rows += [AccessCheck(p, False, reason) for p in (P_HEAD, P_GET)]
        else:
            rows += self._object_rows(key, rows)
        rows.append(self._sign_row(key))
        return rows

    @staticmethod
    def _bucket_missing(row: AccessCheck) -> bool:
        return not row.ok and "ListObjects NotFound" in row.detail

    def _probe_list(self, first: list[str]) -> str:
        with self._mapped("ListObjects", self.prefix):
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=self.prefix,
                max_results=1,
                fields="items(name),nextPageToken",
                retry=RETRY,
                timeout=TIMEOUT,
            )
            first.extend(blob.name for blob in islice(blobs, 1))  # emulators ignore max_results
        return f"listed {len(first)} key(s) under {self.canonical_url(self.prefix)}"

    def _probe_sign(self, key: str) -> str:
        self.sign(key)
        if isinstance(self.credentials, service_account.Credentials):
            return "V4 signed GET generated locally with the key file, not fetched"
        return "V4 signed GET generated via IAM signBlob, not fetched"

    def fix_for(self, permission: str, err: StorageError) -> str:
        """A concrete next step for a failed probe."""
        provider = getattr(err, "provider_code", err.code)
        if err.code == "SigningUnavailable":
            return f"SigningUnavailable: {SIGNING_FIX}"
        if err.code == "AccessDenied":
            return f"{provider}: {self._grant_for(permission)}"
        if err.code == "NotFound" and permission == P_LIST:
            where = safe_endpoint(self.endpoint_url) if self.endpoint_url else GOOGLE_ENDPOINT
            return (
                f"NoSuchBucket: bucket '{self.bucket}' does not exist at {where}; "
                "check the bucket name and endpoint_url"
            )
        if err.code == "NotFound":
            return (
                f"NoSuchKey: no object at this key; check the key (case-sensitive) "
                f"and that it lies under '{self.prefix}'"
            )
        if err.code == "Auth":
            return f"{provider}: {self._auth_fix()}"
        return _GENERIC_FIXES.get(provider) or _GENERIC_FIXES.get(
            err.code, f"{provider}: see detail"
        )

    def _grant_for(self, permission: str) -> str:
        if isinstance(self.config.auth, GCSAnonymousAuth):
            return (
                f"gs://{self.bucket} does not allow anonymous reads; use auth method "
                "service_account or adc"
            )
        member = self.principal() or MEMBER_PLACEHOLDER
        needed = "storage.objects.list" if permission == P_LIST else "storage.objects.get"
        scope = (
            f" with the IAM condition on prefix '{self.prefix}' from setup_guide"
            if self.prefix
            else ""
        )
        return (
            f"grant roles/storage.objectViewer on gs://{self.bucket} to {member}{scope} "
            f"(needs {needed})"
        )

    def _auth_fix(self) -> str:
        auth = self.config.auth
        if isinstance(auth, GCSServiceAccountAuth):
            return (
                f"check the key file {auth.key_file}: it must be a JSON key of an enabled "
                "service account whose key has not been deleted"
            )
        return (
            "no usable application default credentials: run 'gcloud auth application-default "
            "login' or set GOOGLE_APPLICATION_CREDENTIALS"
        )


_GENERIC_FIXES = {
    "AuthTransportError": "auth endpoint unreachable: check access to the key file's token_uri "
    "(oauth2.googleapis.com) or the metadata server, proxies and firewall",
    "Network": "endpoint unreachable: check endpoint_url, DNS, proxy and firewall",
    "Throttled": "throttled by the provider: transient, retry later",
    "ServerError": "provider server error: transient, retry later",
    "InvalidRange": "InvalidRange: the object is shorter than the requested range",
    "Corrupted": "checksum mismatch: transient, retry later",
}


def _key_file_credentials(path: str) -> service_account.Credentials:
    """Read-only-scoped credentials of a service-account JSON key (errors name the path only)."""
    try:
        return service_account.Credentials.from_service_account_file(path, scopes=[READ_ONLY_SCOPE])
    except OSError as exc:
        reason = f"cannot read it ({type(exc).__name__})"
    except (ValueError, KeyError, GoogleAuthError) as exc:
        reason = f"not a service-account JSON key ({type(exc).__name__})"
    error = StorageError(f"service-account key file {path}: {reason}", code="Auth")
    error.provider_code = "KeyFile"  # type: ignore[attr-defined]
    error.status = None  # type: ignore[attr-defined]
    error.operation = "LoadCredentials"  # type: ignore[attr-defined]
    raise error


def _key_file_email(path: str) -> str | None:
    """``client_email`` of a service-account key file, or None (nothing else is kept)."""
    try:
        with open(path, encoding="utf-8") as handle:
            email = json.load(handle).get("client_email")
    except (OSError, ValueError, AttributeError):
        return None
    return email if isinstance(email, str) and "@" in email else None
