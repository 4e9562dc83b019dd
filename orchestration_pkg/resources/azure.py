"""Dagster resource for one Azure Blob integration, built on dagster-azure's
``AzureBlobStorageResource``.

``account_url`` and the ``credential`` union (SAS token or shared key) are dagster-azure's; a
connection string or a service principal (tenant, client id, client secret) are extra fields.
Exactly one of the three kinds of credentials must be given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.storage.blob import BlobServiceClient
from dagster_azure.blob import (
    AzureBlobStorageAnonymousCredential,
    AzureBlobStorageDefaultCredential,
    AzureBlobStorageKeyCredential,
    AzureBlobStorageResource,
    AzureBlobStorageSASTokenCredential,
)
from pydantic import Field

from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.providers.azure.config import (
    AzureAccountKeyAuth,
    AzureConnectionStringAuth,
    AzureIntegrationConfig,
    AzureSasAuth,
    AzureServicePrincipalAuth,
)
from orchestration_pkg.core.providers.azure.urls import normalize_account_url
from orchestration_pkg.resources.base import IntegrationResource

SECRET_FIELDS = frozenset({"connection_string", "client_secret"})
MASK = "**********"

AzureAuth = (
    AzureSasAuth | AzureAccountKeyAuth | AzureConnectionStringAuth | AzureServicePrincipalAuth
)


class AzureIntegrationResource(AzureBlobStorageResource, IntegrationResource):
    """One container + prefix the catalog reads in place; ``get_storage()`` does the work.

    Prefer ``dagster.EnvVar`` for the token, key, connection string and client secret: Dagster
    shows plain values in its UI.
    """

    integration_name: str = Field(description="Name of the integration in the catalog.")
    container: str = Field(description="Container the integration reads.")
    prefix: str = Field(default="", description="Only blobs under this prefix are read.")
    credential: (
        AzureBlobStorageKeyCredential
        | AzureBlobStorageSASTokenCredential
        | AzureBlobStorageDefaultCredential
        | AzureBlobStorageAnonymousCredential
    ) = Field(
        default=AzureBlobStorageAnonymousCredential(),
        discriminator="credential_type",
        description="SAS token or shared key; leave anonymous when using connection_string "
        "or the service principal fields.",
    )
    connection_string: str | None = Field(default=None, description="Storage connection string.")
    tenant_id: str | None = Field(default=None, description="Service principal: tenant ID.")
    client_id: str | None = Field(default=None, description="Service principal: client ID.")
    client_secret: str | None = Field(default=None, description="Service principal: secret.")
    authority_host: str | None = Field(default=None, description="Entra ID authority host.")
    max_pool_connections: int = Field(default=32, ge=1, le=512)

    provider_name = "azure"
    sdk_resource = AzureBlobStorageResource
    credential_fields = ("account_url", "auth")

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "credential" and getattr(value, "credential_type", "") in ("sas", "key"):
                yield name, f"{value.credential_type}({MASK})"
            else:
                yield name, (MASK if name in SECRET_FIELDS and value else value)

    def config_fields(self) -> dict[str, Any]:
        return {
            "name": self.integration_name,
            "provider": "azure",
            "account_url": self.account_url,
            "container": self.container,
            "prefix": self.prefix,
            "auth": self._auth(),
            "max_pool_connections": self.max_pool_connections,
        }

    def _auth(self) -> AzureAuth:
        kinds = [
            name
            for name, given in (
                ("credential", self.credential.credential_type in ("sas", "key")),
                ("connection_string", self.connection_string is not None),
                ("service principal", self._principal_given()),
            )
            if given
        ]
        where = f"integration '{self.integration_name}'"
        if isinstance(self.credential, AzureBlobStorageDefaultCredential):
            raise ConfigError(
                f"{where}: DefaultAzureCredential is not supported; give tenant_id, client_id "
                "and client_secret (service principal), a SAS token, a key or a connection string"
            )
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ConfigError(
                f"{where}: give exactly one of credential (SAS token or key), connection_string "
                f"or tenant_id + client_id + client_secret (found: {found})"
            )
        return self._auth_model(kinds[0])

    def _principal_given(self) -> bool:
        return any(v is not None for v in (self.tenant_id, self.client_id, self.client_secret))

    def _auth_model(self, kind: str) -> AzureAuth:
        credential = self.credential
        if isinstance(credential, AzureBlobStorageSASTokenCredential):
            return AzureSasAuth(method="sas", sas_token=_required(credential.token, "token"))
        if isinstance(credential, AzureBlobStorageKeyCredential):
            return AzureAccountKeyAuth(
                method="account_key", account_key=_required(credential.key, "key")
            )
        if kind == "connection_string":
            return AzureConnectionStringAuth(
                method="connection_string", connection_string=self.connection_string
            )
        missing = [
            n for n in ("tenant_id", "client_id", "client_secret") if getattr(self, n) is None
        ]
        if missing:
            raise ConfigError(f"service principal auth needs {', '.join(missing)}")
        return AzureServicePrincipalAuth(
            method="service_principal",
            tenant_id=self.tenant_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            authority_host=self.authority_host,
        )

    @contextmanager
    def get_client(self) -> Iterator[BlobServiceClient]:
        """The storage's cached ``BlobServiceClient`` (any auth kind), not a new one."""
        yield self.get_storage().service

    def safe_metadata(self) -> dict[str, str]:
        """Describing, secret-free values for Dagster metadata and logs."""
        try:
            auth = self._auth().method
        except ConfigError:
            auth = "invalid"
        meta = {
            "integration": self.integration_name,
            "account_url": normalize_account_url(self.account_url),
            "container": self.container,
            "prefix": self.prefix,
            "auth": auth,
        }
        if self.client_id:
            meta["client_id"] = self.client_id
        return meta

    @classmethod
    def resource_fields(cls, cfg: AzureIntegrationConfig) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "integration_name": cfg.name,
            "account_url": cfg.account_url,
            "container": cfg.container,
            "prefix": cfg.prefix,
            "max_pool_connections": cfg.max_pool_connections,
        }
        fields.update(_auth_fields(cfg.auth))
        return fields


def _required(value: str | None, name: str) -> str:
    if not value:
        raise ConfigError(f"the credential's {name} is empty")
    return value


def _auth_fields(auth: AzureAuth) -> dict[str, Any]:
    if isinstance(auth, AzureSasAuth):
        token = auth.sas_token.get_secret_value()
        return {"credential": AzureBlobStorageSASTokenCredential(token=token)}
    if isinstance(auth, AzureAccountKeyAuth):
        return {
            "credential": AzureBlobStorageKeyCredential(key=auth.account_key.get_secret_value())
        }
    if isinstance(auth, AzureConnectionStringAuth):
        return {"connection_string": auth.connection_string.get_secret_value()}
    return {
        "tenant_id": auth.tenant_id,
        "client_id": auth.client_id,
        "client_secret": auth.client_secret.get_secret_value(),
        "authority_host": auth.authority_host,
    }
