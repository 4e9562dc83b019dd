"""Dagster resource for one GCS integration, built on dagster-gcp's ``GCSResource``."""

from __future__ import annotations

from typing import Any

from dagster_gcp import GCSResource
from google.cloud import storage
from pydantic import Field

from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.providers.gcs.config import (
    GCSAnonymousAuth,
    GCSDefaultAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.urls import safe_endpoint
from orchestration_pkg.resources.base import IntegrationResource

AUTH_METHODS = ("service_account", "adc", "anonymous")


class GCSIntegrationResource(GCSResource, IntegrationResource):
    """One bucket + prefix the catalog reads in place; ``get_storage()`` does the work.

    ``key_file`` is the path of a service-account JSON key (never its contents); without
    ``auth_method`` it implies ``service_account``, else application default credentials.
    """

    integration_name: str = Field(description="Name of the integration in the catalog.")
    bucket: str = Field(description="Bucket the integration reads.")
    prefix: str = Field(default="", description="Only keys under this prefix are read.")
    key_file: str | None = Field(default=None, description="Service-account JSON key path.")
    auth_method: str | None = Field(
        default=None, description="service_account, adc or anonymous (default: inferred)."
    )
    endpoint_url: str | None = Field(default=None, description="Emulator / private endpoint.")
    max_pool_connections: int = Field(default=32, ge=1, le=512)
    cors_origins: list[str] = Field(default_factory=list, description="Origins for CORS rules.")

    provider_name = "gcs"
    sdk_resource = GCSResource
    credential_fields = ("project",)

    def config_fields(self) -> dict[str, Any]:
        return {
            "provider": "gcs",
            "name": self.integration_name,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "project": self.project,
            "endpoint_url": self.endpoint_url,
            "auth": self._auth(),
            "max_pool_connections": self.max_pool_connections,
            "cors_origins": list(self.cors_origins),
        }

    def _auth(self) -> GCSServiceAccountAuth | GCSDefaultAuth | GCSAnonymousAuth:
        method = self.auth_method or ("service_account" if self.key_file else "adc")
        if method not in AUTH_METHODS:
            raise ConfigError(
                f"auth_method must be one of {', '.join(AUTH_METHODS)}, not {method!r}"
            )
        if method == "service_account":
            if not self.key_file:
                raise ConfigError("auth_method service_account needs key_file")
            return GCSServiceAccountAuth(method="service_account", key_file=self.key_file)
        if self.key_file:
            raise ConfigError(
                f"key_file is only used with auth_method service_account, not {method}"
            )
        if method == "anonymous":
            return GCSAnonymousAuth(method="anonymous")
        return GCSDefaultAuth(method="adc")

    def get_client(self) -> storage.Client:
        """The storage's client (the integration's credentials), not a second one."""
        return self.get_storage().client

    def safe_metadata(self) -> dict[str, str]:
        """Describing, secret-free values for Dagster metadata and logs."""
        return {
            "integration": self.integration_name,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "project": self.project or "",
            "endpoint_url": safe_endpoint(self.endpoint_url) if self.endpoint_url else "",
            "auth": self.auth_method or ("service_account" if self.key_file else "adc"),
        }

    @classmethod
    def resource_fields(cls, cfg: GCSIntegrationConfig) -> dict[str, Any]:
        """The key file path, never the key."""
        auth = cfg.auth
        return {
            "integration_name": cfg.name,
            "bucket": cfg.bucket,
            "prefix": cfg.prefix,
            "project": cfg.project,
            "endpoint_url": cfg.endpoint_url,
            "auth_method": auth.method,
            "key_file": auth.key_file if isinstance(auth, GCSServiceAccountAuth) else None,
            "max_pool_connections": cfg.max_pool_connections,
            "cors_origins": list(cfg.cors_origins),
        }
