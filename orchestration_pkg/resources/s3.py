"""Dagster resource for one S3 integration, built on dagster-aws's ``S3Resource``."""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource
from pydantic import Field

from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.providers.s3.config import (
    AccessKeyAuth,
    AssumeRoleAuth,
    DefaultAuth,
    S3IntegrationConfig,
)
from orchestration_pkg.resources.base import IntegrationResource

SECRET_FIELDS = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "external_id"}
)
MASK = "**********"


class S3IntegrationResource(S3Resource, IntegrationResource):
    """One bucket + prefix the catalog reads in place; ``get_storage()`` does the work.

    Prefer ``dagster.EnvVar`` for the key fields: Dagster shows plain values in its UI.
    """

    integration_name: str = Field(description="Name of the integration in the catalog.")
    bucket: str = Field(description="Bucket the integration reads.")
    prefix: str = Field(default="", description="Only keys under this prefix are read.")
    role_arn: str | None = Field(default=None, description="Role to assume (assume_role auth).")
    external_id: str | None = Field(default=None, description="sts:ExternalId for the role.")
    role_session_name: str = Field(default="orchestration-pkg")
    role_duration_seconds: int = Field(default=3600, ge=900, le=43200)
    sts_endpoint_url: str | None = Field(default=None, description="STS endpoint override.")
    max_pool_connections: int = Field(default=32, ge=1, le=512)

    provider_name = "s3"
    sdk_resource = S3Resource
    credential_fields = ("region", "endpoint_url", "auth")

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (MASK if name in SECRET_FIELDS and value else value)

    def config_fields(self) -> dict[str, Any]:
        if self.use_unsigned_session:
            raise ConfigError(
                f"integration '{self.integration_name}': unsigned access is not supported"
            )
        return {
            "name": self.integration_name,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "region": self.region_name,
            "endpoint_url": self.endpoint_url,
            "auth": self._auth(),
            "max_pool_connections": self.max_pool_connections,
        }

    def _auth(self) -> AccessKeyAuth | AssumeRoleAuth | DefaultAuth:
        keys = (self.aws_access_key_id, self.aws_secret_access_key)
        if (keys[0] is None) != (keys[1] is None):
            raise ConfigError("give both aws_access_key_id and aws_secret_access_key, or neither")
        if self.role_arn:
            return self._assume_role_auth()
        if keys[0] is not None:
            return AccessKeyAuth(
                method="access_key",
                access_key_id=keys[0],
                secret_access_key=keys[1],
                session_token=self.aws_session_token,
            )
        return DefaultAuth(method="default", profile=self.profile_name)

    def _assume_role_auth(self) -> AssumeRoleAuth:
        if not self.external_id:
            raise ConfigError("role_arn needs external_id (sts:ExternalId)")
        if self.aws_session_token or self.profile_name:
            raise ConfigError(
                "role_arn cannot be combined with aws_session_token or profile_name; "
                "use AWS_PROFILE or plain keys for the base credentials"
            )
        return AssumeRoleAuth(
            method="assume_role",
            role_arn=self.role_arn,
            external_id=self.external_id,
            session_name=self.role_session_name,
            duration_seconds=self.role_duration_seconds,
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
            sts_endpoint_url=self.sts_endpoint_url,
        )

    def get_client(self) -> Any:
        """The storage's boto3 S3 client (role credentials included), not a second one."""
        return self.get_storage().client

    def safe_metadata(self) -> dict[str, str]:
        """Describing, secret-free values for Dagster metadata and logs."""
        auth = (
            "assume_role"
            if self.role_arn
            else "access_key"
            if self.aws_access_key_id
            else "default"
        )
        meta = {
            "integration": self.integration_name,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "region": self.region_name or "",
            "endpoint_url": self.endpoint_url or "",
            "auth": auth,
        }
        if self.role_arn:
            meta["role_arn"] = self.role_arn
        return meta

    @classmethod
    def resource_fields(cls, cfg: S3IntegrationConfig) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "integration_name": cfg.name,
            "bucket": cfg.bucket,
            "prefix": cfg.prefix,
            "region_name": cfg.region,
            "endpoint_url": cfg.endpoint_url,
            "max_pool_connections": cfg.max_pool_connections,
        }
        fields.update(_auth_fields(cfg.auth))
        return fields


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _auth_fields(auth: AccessKeyAuth | AssumeRoleAuth | DefaultAuth) -> dict[str, Any]:
    if isinstance(auth, AccessKeyAuth):
        return {
            "aws_access_key_id": _secret(auth.access_key_id),
            "aws_secret_access_key": _secret(auth.secret_access_key),
            "aws_session_token": _secret(auth.session_token),
        }
    if isinstance(auth, AssumeRoleAuth):
        return {
            "role_arn": auth.role_arn,
            "external_id": _secret(auth.external_id),
            "role_session_name": auth.session_name,
            "role_duration_seconds": auth.duration_seconds,
            "sts_endpoint_url": auth.sts_endpoint_url,
            "aws_access_key_id": _secret(auth.access_key_id),
            "aws_secret_access_key": _secret(auth.secret_access_key),
        }
    return {"profile_name": auth.profile}
