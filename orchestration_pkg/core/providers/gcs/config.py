"""Config of a Google Cloud Storage integration and its kinds of credentials."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from orchestration_pkg.core.providers.base import IntegrationBase, StrictModel


class GCSServiceAccountAuth(StrictModel):
    """A service-account JSON key file (needed for V4 signing without IAM signBlob)."""

    method: Literal["service_account"]
    key_file: str


class GCSDefaultAuth(StrictModel):
    """Application default credentials."""

    method: Literal["adc"]


class GCSAnonymousAuth(StrictModel):
    """No credentials (public buckets, emulators)."""

    method: Literal["anonymous"]


GCSAuth = Annotated[
    GCSServiceAccountAuth | GCSDefaultAuth | GCSAnonymousAuth, Field(discriminator="method")
]


class GCSIntegrationConfig(IntegrationBase):
    provider: Literal["gcs"]
    bucket: str
    prefix: str = ""
    project: str | None = None
    endpoint_url: str | None = Field(default=None, description="emulator / private endpoint")
    auth: GCSAuth = Field(default_factory=lambda: GCSDefaultAuth(method="adc"))

    def listing_root(self) -> tuple[str, str]:
        return self.bucket, self.prefix

    def location(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}"
