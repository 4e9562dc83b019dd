"""Config of an S3 integration and its three kinds of credentials."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from orchestration_pkg.core.providers.base import IntegrationBase, StrictModel


class AccessKeyAuth(StrictModel):
    method: Literal["access_key"]
    access_key_id: SecretStr
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


class DefaultAuth(StrictModel):
    """boto3's default credential chain (env, shared files, instance/container roles)."""

    method: Literal["default"]
    profile: str | None = None


class AssumeRoleAuth(StrictModel):
    """STS AssumeRole with a mandatory ExternalId; base credentials are keys or the chain."""

    method: Literal["assume_role"]
    role_arn: str = Field(
        pattern=r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$"
    )
    external_id: SecretStr = Field(
        description="sts:ExternalId; required to defeat confused deputies"
    )
    session_name: str = Field(default="orchestration-pkg", pattern=r"^[A-Za-z0-9_+=,.@-]{2,64}$")
    duration_seconds: int = Field(default=3600, ge=900, le=43200)
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    sts_endpoint_url: str | None = None

    @model_validator(mode="after")
    def _external_id_not_blank(self) -> AssumeRoleAuth:
        if not self.external_id.get_secret_value().strip():
            raise ValueError("external_id must not be empty")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        return self


S3Auth = Annotated[AccessKeyAuth | AssumeRoleAuth | DefaultAuth, Field(discriminator="method")]


class S3IntegrationConfig(IntegrationBase):
    provider: Literal["s3"] = "s3"
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    auth: S3Auth = Field(default_factory=lambda: DefaultAuth(method="default"))

    def listing_root(self) -> tuple[str, str]:
        return self.bucket, self.prefix

    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
