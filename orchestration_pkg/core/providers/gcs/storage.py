"""Google Cloud Storage: one bucket + optional prefix, read in place.

The client and its credentials are built in :mod:`.client`; what reads hand back (object
metadata, ranged-read sizes, the mapped stream) in :mod:`.downloads`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from itertools import islice
from typing import BinaryIO, cast

from google.auth.credentials import AnonymousCredentials, Credentials, Signing
from google.auth.transport.requests import Request
from google.cloud import storage
from google.oauth2 import service_account

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.gcs.access import GCSAccess
from orchestration_pkg.core.providers.gcs.client import EMULATOR_ENV, load_credentials, new_client
from orchestration_pkg.core.providers.gcs.config import GCSAnonymousAuth, GCSIntegrationConfig
from orchestration_pkg.core.providers.gcs.downloads import (
    MappedReader,
    RangeBlob,
    blob_info,
    range_result,
)
from orchestration_pkg.core.providers.gcs.errors import mapped_errors, signing_unavailable
from orchestration_pkg.core.providers.gcs.urls import parse_gcs_url
from orchestration_pkg.core.retry import retried, retried_listing
from orchestration_pkg.core.storage import MIN_SIGN_TTL, RangeRead, clamp_ttl
from orchestration_pkg.core.urls import check_in_scope, safe_endpoint

# The library's own retries are off: every request is retried by core/retry.py's one policy.
RETRY = None
CONNECT_TIMEOUT = 5.0  # the read timeout is retry.read_timeout_seconds
LIST_PAGE_SIZE = 1000
LIST_FIELDS = "items(name,size,etag,contentType,updated),nextPageToken"
STREAM_CHUNK_SIZE = 8 * 1024 * 1024


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
            credentials = self._given_credentials or load_credentials(self.config)
        client = new_client(self.config, credentials, self.endpoint_url)
        self._credentials = credentials
        return client

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
                yield blob_info(blob)

    @retried
    def head(self, key: str) -> ObjectInfo:
        """Object metadata (``objects.get``); ``StorageError(code='NotFound')`` if missing."""
        with self._mapped("GetObjectMetadata", key):
            blob = self._bucket().blob(key)
            blob.reload(retry=RETRY, timeout=self.timeout)
        return blob_info(blob)

    @retried
    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """``length`` bytes from ``start``; ``info.size`` is the whole object's size.

        One media request: the total size comes from its ``Content-Range`` (or from the body
        when the server answers 200 with the whole object). Only a 416 costs a metadata
        request, to tell a zero-byte object from a range past the end.
        """
        if start < 0 or length <= 0:
            raise ValueError("read_range needs start >= 0 and length > 0")
        blob = RangeBlob(key, self._bucket())
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
        return range_result(self._target(key), blob, data, start, length)

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
        return cast(BinaryIO, MappedReader(reader, self._target(key), self.endpoint_url))

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
