"""Config of an Azure Blob integration and its kinds of credentials."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from orchestration_pkg.core.providers.base import IntegrationBase, StrictModel


class AzureSasAuth(StrictModel):
    """Account or container SAS token (needs Read + List)."""

    method: Literal["sas"]
    sas_token: SecretStr


class AzureServicePrincipalAuth(StrictModel):
    """Entra ID app (client secret); URLs are signed with a user delegation key."""

    method: Literal["service_principal"]
    tenant_id: str
    client_id: str
    client_secret: SecretStr
    authority_host: str | None = None


class AzureConnectionStringAuth(StrictModel):
    method: Literal["connection_string"]
    connection_string: SecretStr


class AzureAccountKeyAuth(StrictModel):
    method: Literal["account_key"]
    account_key: SecretStr


AzureAuth = Annotated[
    AzureSasAuth | AzureServicePrincipalAuth | AzureConnectionStringAuth | AzureAccountKeyAuth,
    Field(discriminator="method"),
]


class AzureIntegrationConfig(IntegrationBase):
    provider: Literal["azure"]
    account_url: str = Field(description="https://ACCOUNT.blob.core.windows.net or emulator URL")
    container: str
    prefix: str = ""
    auth: AzureAuth

    def listing_root(self) -> tuple[str, str]:
        return self.container, self.prefix

    def location(self) -> str:
        return f"{self.account_url.rstrip('/')}/{self.container}/{self.prefix}"
