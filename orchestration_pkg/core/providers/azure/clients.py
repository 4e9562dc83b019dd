"""Credentials and clients of an Azure integration: account key, SAS, connection string or
service principal, and the cached ``BlobServiceClient`` / ``ContainerClient`` built from them.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.pipeline.transport import HttpTransport, RequestsTransport
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry
from requests.adapters import HTTPAdapter

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.providers.azure.config import (
    AzureAccountKeyAuth,
    AzureConnectionStringAuth,
    AzureIntegrationConfig,
    AzureSasAuth,
    AzureServicePrincipalAuth,
)
from orchestration_pkg.core.providers.azure.errors import http_logger
from orchestration_pkg.core.providers.azure.sas import (
    SAS_WARN_BEFORE,
    SasInfo,
    clean_sas_token,
    format_time,
    parse_sas,
    utcnow,
)

log = logging.getLogger(__name__)

# azure-core's own retries are off: core/retry.py's one policy retries every request.
RETRY_TOTAL = 0
RETRY_INITIAL_BACKOFF = 1
RETRY_INCREMENT_BASE = 2
CONNECT_TIMEOUT = 5  # the read timeout is retry.read_timeout_seconds
DOWNLOAD_CHUNK = 4 * 1024 * 1024


def connection_string_credentials(text: str) -> tuple[tuple[str, str] | None, str | None]:
    """``((account, key), None)`` or ``(None, sas)`` of a connection string, read by the SDK.

    ``BlobServiceClient.from_connection_string`` knows every form, ``UseDevelopmentStorage=true``
    (the emulator's well-known account and key) included; no request is made. ``(None, None)``
    when the string is malformed or has neither an account key nor a SAS.
    """
    try:
        client = BlobServiceClient.from_connection_string(text)
    except ValueError:
        return None, None
    credential = client.credential
    key = getattr(credential, "account_key", None)
    if key:
        return (credential.account_name, key), None
    return None, urlsplit(client.url).query or None


class AzureClients:
    """The credential and clients of ``AzureStorage`` (built lazily, once, thread-safely)."""

    config: AzureIntegrationConfig
    name: str
    container: str
    account_url: str
    account_name: str
    sas: SasInfo | None
    sas_expiry: datetime | None
    _sas_token: str | None
    _transport: HttpTransport | None
    _lock: threading.Lock
    _clients: tuple[BlobServiceClient, ContainerClient] | None
    _credential: Any
    _conn_credentials: tuple[tuple[str, str] | None, str | None] | None

    def _connection_string(self) -> tuple[tuple[str, str] | None, str | None]:
        """Account key and SAS of a connection-string auth, read once by the SDK."""
        auth = self.config.auth
        if not isinstance(auth, AzureConnectionStringAuth):
            return None, None
        if self._conn_credentials is None:
            text = auth.connection_string.get_secret_value()
            self._conn_credentials = connection_string_credentials(text)
        return self._conn_credentials

    def _configured_sas(self) -> str | None:
        auth = self.config.auth
        if isinstance(auth, AzureSasAuth):
            return clean_sas_token(auth.sas_token.get_secret_value())
        token = self._connection_string()[1]
        return clean_sas_token(token) if token else None

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
        return self._connection_string()[0]

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
            read_timeout=self.config.retry.read_timeout_seconds,
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
            "read_timeout": self.config.retry.read_timeout_seconds,
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
