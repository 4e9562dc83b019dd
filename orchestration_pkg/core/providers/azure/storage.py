"""Azure Blob Storage: one container + optional prefix of a storage account, read in place.

A SAS in an object URL is accepted, ignored and never echoed: the catalog stores canonical
URLs only, which is why rotating the SAS token keeps every registered file valid.

Secrets: the SAS token, account key, connection string and client secret never appear in an
exception, a log line or a repr. Clients are built with ``logging_enable=False``; azure-core's
``HttpLoggingPolicy`` writes to our own logger at DEBUG through a filter that drops query
strings, as does urllib3's connection-pool logger (see :mod:`.errors`).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, BinaryIO, cast

from azure.core.pipeline.transport import HttpTransport
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    UserDelegationKey,
    generate_blob_sas,
)

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.azure.access import AzureAccess
from orchestration_pkg.core.providers.azure.clients import AzureClients
from orchestration_pkg.core.providers.azure.config import AzureIntegrationConfig
from orchestration_pkg.core.providers.azure.errors import T, call_azure
from orchestration_pkg.core.providers.azure.sas import CLOCK_SKEW, SasInfo, utcnow
from orchestration_pkg.core.providers.azure.urls import (
    account_name_of,
    encode_blob_for_url,
    normalize_account_url,
    parse_azure_url,
)
from orchestration_pkg.core.retry import retried, retried_listing
from orchestration_pkg.core.storage import (
    MIN_SIGN_TTL,
    RangeRead,
    clamp_ttl,
    strip_etag,
    total_size,
)
from orchestration_pkg.core.urls import check_in_scope

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 5000
STREAM_BUFFER = 1024 * 1024
DELEGATION_KEY_LIFETIME = timedelta(days=2)


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


class AzureStorage(AzureClients, AzureAccess):
    """``Storage`` over one container + optional prefix of an ``AzureIntegrationConfig``.

    Clients are built lazily, once, thread-safely; ``transport`` replaces the HTTP transport
    (proxies, tests). Retries are azure-storage's ``ExponentialRetry`` policy.
    """

    provider = "azure"
    strict_client_only = False

    def __init__(
        self, config: AzureIntegrationConfig, *, transport: HttpTransport | None = None
    ) -> None:
        self.config = config
        self.retry_policy = config.retry.policy()
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
        self._conn_credentials: tuple[tuple[str, str] | None, str | None] | None = None
        self._load_sas(self._configured_sas())

    def __repr__(self) -> str:
        return (
            f"AzureStorage(name={self.name!r}, account_url={self.account_url!r}, "
            f"container={self.container!r}, prefix={self.prefix!r}, "
            f"auth={self.config.auth.method!r})"
        )

    # -- credentials / clients -----------------------------------------------------------------

    # -- URLs -----------------------------------------------------------------------------------

    def parse_url(self, url: str) -> str:
        """The blob name of ``url``; ``UrlError`` if it is not in this container / prefix."""
        loc = parse_azure_url(url, account_url=self.account_url)
        where = f" of account '{self.account_name}'"
        check_in_scope(
            self.name,
            "container",
            loc.container,
            self.container,
            loc.blob,
            self.prefix,
            key_noun="blob",
            where=where,
        )
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

    @retried_listing
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

    @retried
    def head(self, key: str) -> ObjectInfo:
        blob = self.container_client.get_blob_client(key)
        props = self._call(
            "GetBlobProperties", self.canonical_url(key), blob.get_blob_properties, "read"
        )
        return _info(key, props)

    @retried
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

    @retried
    def open_stream(self, key: str) -> BinaryIO:
        """A buffered stream over the blob, fetched ``DOWNLOAD_CHUNK`` bytes at a time."""
        blob = self.container_client.get_blob_client(key)
        target = self.canonical_url(key)
        downloader = self._call("GetBlob", target, blob.download_blob, "read")
        raw = _BlobStream(downloader, lambda fn: self._call("GetBlob", target, fn, "read"))
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=STREAM_BUFFER))

    # -- signing --------------------------------------------------------------------------------

    @retried
    def sign(self, key: str, ttl_seconds: int = 3600, *, min_ttl: int = MIN_SIGN_TTL) -> str:
        """A GET URL for ``key`` valid ``clamp_ttl(ttl_seconds, min_ttl)``; never stored or
        logged.

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
        ttl = clamp_ttl(ttl_seconds, min_ttl)
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

    def _probe_list(self, first: list[str]) -> str:
        def one() -> list[str]:
            pages = self.container_client.list_blobs(
                name_starts_with=self.prefix or None, results_per_page=1
            ).by_page()
            return [b.name for b in next(pages, [])][:1]

        first.extend(self._call("ListBlobs", self.canonical_url(self.prefix), one, "list"))
        return f"listed {len(first)} blob(s) under {self.canonical_url(self.prefix)}"
