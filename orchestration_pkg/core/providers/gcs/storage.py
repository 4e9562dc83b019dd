"""Google Cloud Storage: one bucket + optional prefix, read in place."""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import islice
from typing import Any, BinaryIO, cast

import google.auth
from google.auth.credentials import AnonymousCredentials, Credentials, Signing
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import storage
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.gcs.access import GOOGLE_ENDPOINT, GCSAccess
from orchestration_pkg.core.providers.gcs.access import P_GET as P_GET
from orchestration_pkg.core.providers.gcs.access import P_HEAD as P_HEAD
from orchestration_pkg.core.providers.gcs.access import P_LIST as P_LIST
from orchestration_pkg.core.providers.gcs.access import P_SIGN as P_SIGN
from orchestration_pkg.core.providers.gcs.config import (
    GCSAnonymousAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.providers.gcs.errors import mapped_errors, signing_unavailable
from orchestration_pkg.core.providers.gcs.urls import parse_gcs_url
from orchestration_pkg.core.retry import retried, retried_listing
from orchestration_pkg.core.storage import (
    MIN_SIGN_TTL,
    RangeRead,
    clamp_ttl,
    strip_etag,
    total_size,
)
from orchestration_pkg.core.urls import check_in_scope, safe_endpoint

log = logging.getLogger(__name__)

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
# The library's own retries are off: every request is retried by core/retry.py's one policy.
RETRY = None
CONNECT_TIMEOUT = 5.0  # the read timeout is retry.read_timeout_seconds
LIST_PAGE_SIZE = 1000
LIST_FIELDS = "items(name,size,etag,contentType,updated),nextPageToken"
STREAM_CHUNK_SIZE = 8 * 1024 * 1024


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
    Private google-cloud-storage hook (no public API exposes the download response):
    pinned to google-cloud-storage <4 in pyproject.toml.
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


class GCSStorage(GCSAccess):
    """``Storage`` over one GCS bucket + optional prefix of a ``GCSIntegrationConfig``.

    ``credentials`` replaces the configured ones. The client is built lazily, once,
    thread-safely; ``STORAGE_EMULATOR_HOST`` is honoured (by the library) when no
    ``endpoint_url`` is configured.
    """

    provider = "gcs"
    strict_client_only = False

    def __init__(
        self, config: GCSIntegrationConfig, *, credentials: Credentials | None = None
    ) -> None:
        self.config = config
        self.retry_policy = config.retry.policy()
        self.timeout = (CONNECT_TIMEOUT, self.retry_policy.read_timeout_seconds)
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
        # Private attribute (no public switch), hence google-cloud-storage <4 in pyproject.toml;
        # ``_http`` above is the client's documented way to pass a configured session.
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
        check_in_scope(self.name, "bucket", loc.bucket, self.bucket, loc.key, self.prefix)
        return loc.key

    def canonical_url(self, key: str) -> str:
        return f"gs://{self.bucket}/{key}"

    def record_key(self, key: str) -> str:
        """The key as recorded in the catalog (GCS keys are stored as they are)."""
        return key

    # -- reads ----------------------------------------------------------------------------------

    @retried_listing
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
                timeout=self.timeout,
            )
            for blob in blobs:
                if start_after and blob.name <= start_after:
                    continue
                yield _blob_info(blob)

    @retried
    def head(self, key: str) -> ObjectInfo:
        """Object metadata (``objects.get``); ``StorageError(code='NotFound')`` if missing."""
        with self._mapped("GetObjectMetadata", key):
            blob = self._bucket().blob(key)
            blob.reload(retry=RETRY, timeout=self.timeout)
        return _blob_info(blob)

    @retried
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
                    timeout=self.timeout,
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

    @retried
    def open_stream(self, key: str) -> BinaryIO:
        """A streaming reader (8 MiB ranged reads) pinned to the current generation.

        The metadata request up front reports a missing object at once and fixes the
        generation, so an overwrite during the read cannot mix two versions.
        """
        with self._mapped("GetObjectMetadata", key):
            blob = self._bucket().blob(key)
            blob.reload(retry=RETRY, timeout=self.timeout)
            reader = blob.open(
                "rb", chunk_size=STREAM_CHUNK_SIZE, retry=RETRY, timeout=self.timeout
            )
        return cast(BinaryIO, _MappedReader(reader, self._target(key), self.endpoint_url))

    # -- signing --------------------------------------------------------------------------------

    @retried
    def sign(self, key: str, ttl_seconds: int = 3600, *, min_ttl: int = MIN_SIGN_TTL) -> str:
        """A V4 signed GET URL valid ``clamp_ttl(ttl_seconds, min_ttl)``; never logged.

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
                    expiration=timedelta(seconds=clamp_ttl(ttl_seconds, min_ttl)),
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

    def _probe_list(self, first: list[str]) -> str:
        with self._mapped("ListObjects", self.prefix):
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=self.prefix,
                max_results=1,
                fields="items(name),nextPageToken",
                retry=RETRY,
                timeout=self.timeout,
            )
            first.extend(blob.name for blob in islice(blobs, 1))  # emulators ignore max_results
        return f"listed {len(first)} key(s) under {self.canonical_url(self.prefix)}"


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
