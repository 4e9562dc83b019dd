"""The user's YAML config: catalog URL and integrations, with ``${ENV_VAR}`` secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    model_validator,
)

from orchestration_pkg.core.errors import ConfigError, NotFoundError
from orchestration_pkg.core.policy import FolderPolicy, Quotas, Requirements

CONFIG_ENV = "ORCHESTRATION_PKG_CONFIG"
DEFAULT_CONFIG_NAMES = ("orchestration_pkg.yaml", "orchestration_pkg.yml")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessKeyAuth(_Strict):
    method: Literal["access_key"]
    access_key_id: SecretStr
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


class DefaultAuth(_Strict):
    """boto3's default credential chain (env, shared files, instance/container roles)."""

    method: Literal["default"]
    profile: str | None = None


class AssumeRoleAuth(_Strict):
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


class ManifestWatch(_Strict):
    """Where the manifest sensor looks for new manifests, and what it registers them into."""

    prefix: str = "manifests/"
    folder: str | None = Field(default=None, description="target folder; default: file stem")
    ignore_errors: bool = True
    max_keys_per_tick: int = Field(default=5000, ge=1)


class _IntegrationBase(_Strict):
    """Fields every integration has."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    default: bool = False
    manifests: ManifestWatch | None = None
    max_pool_connections: int = Field(default=32, ge=1, le=512)
    cors_origins: list[str] = Field(
        default_factory=list, description="web origins for the generated CORS rules"
    )
    requirements: Requirements | None = None
    quotas: Quotas | None = None


class S3IntegrationConfig(_IntegrationBase):
    provider: Literal["s3"] = "s3"
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    auth: S3Auth = Field(default_factory=lambda: DefaultAuth(method="default"))


class GCSServiceAccountAuth(_Strict):
    """A service-account JSON key file (needed for V4 signing without IAM signBlob)."""

    method: Literal["service_account"]
    key_file: str


class GCSDefaultAuth(_Strict):
    """Application default credentials."""

    method: Literal["adc"]


class GCSAnonymousAuth(_Strict):
    """No credentials (public buckets, emulators)."""

    method: Literal["anonymous"]


GCSAuth = Annotated[
    GCSServiceAccountAuth | GCSDefaultAuth | GCSAnonymousAuth, Field(discriminator="method")
]


class GCSIntegrationConfig(_IntegrationBase):
    provider: Literal["gcs"]
    bucket: str
    prefix: str = ""
    project: str | None = None
    endpoint_url: str | None = Field(default=None, description="emulator / private endpoint")
    auth: GCSAuth = Field(default_factory=lambda: GCSDefaultAuth(method="adc"))


class AzureSasAuth(_Strict):
    """Account or container SAS token (needs Read + List)."""

    method: Literal["sas"]
    sas_token: SecretStr


class AzureServicePrincipalAuth(_Strict):
    """Entra ID app (client secret); URLs are signed with a user delegation key."""

    method: Literal["service_principal"]
    tenant_id: str
    client_id: str
    client_secret: SecretStr
    authority_host: str | None = None


class AzureConnectionStringAuth(_Strict):
    method: Literal["connection_string"]
    connection_string: SecretStr


class AzureAccountKeyAuth(_Strict):
    method: Literal["account_key"]
    account_key: SecretStr


AzureAuth = Annotated[
    AzureSasAuth | AzureServicePrincipalAuth | AzureConnectionStringAuth | AzureAccountKeyAuth,
    Field(discriminator="method"),
]


class AzureIntegrationConfig(_IntegrationBase):
    provider: Literal["azure"]
    account_url: str = Field(description="https://ACCOUNT.blob.core.windows.net or emulator URL")
    container: str
    prefix: str = ""
    auth: AzureAuth


class DirectIntegrationConfig(_IntegrationBase):
    """User-supplied pre-signed or unsigned URLs; we never sign.

    ``strict_client_only``: never fetch anything; rows must carry their metadata.
    ``allow_hosts``: host names or CIDRs that may be fetched even if they resolve to loopback,
    private, link-local or multicast addresses (SSRF allow-list).
    """

    provider: Literal["direct"]
    strict_client_only: bool = False
    allow_hosts: list[str] = Field(default_factory=list)
    url_prefixes: list[str] = Field(
        default_factory=list, description="if set, object URLs must start with one of these"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_redirects: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _cannot_watch(self) -> DirectIntegrationConfig:
        if self.manifests is not None:
            raise ValueError("direct access cannot list, so it cannot watch for manifests")
        return self


def _provider_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("provider", "s3"))
    return str(getattr(value, "provider", "s3"))


IntegrationConfig = Annotated[
    Annotated[S3IntegrationConfig, Tag("s3")]
    | Annotated[GCSIntegrationConfig, Tag("gcs")]
    | Annotated[AzureIntegrationConfig, Tag("azure")]
    | Annotated[DirectIntegrationConfig, Tag("direct")],
    Discriminator(_provider_of),
]
AnyIntegrationConfig = (
    S3IntegrationConfig | GCSIntegrationConfig | AzureIntegrationConfig | DirectIntegrationConfig
)


class AppConfig(_Strict):
    catalog: str = "sqlite:///catalog.db"
    integrations: list[IntegrationConfig] = Field(default_factory=list)
    folders: dict[str, FolderPolicy] = Field(
        default_factory=dict, description="per-folder requirements / quotas (override)"
    )

    @model_validator(mode="after")
    def _unique_names_one_default(self) -> AppConfig:
        names = [i.name for i in self.integrations]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"integration names must be unique, repeated: {', '.join(dupes)}")
        if sum(i.default for i in self.integrations) > 1:
            raise ValueError("at most one integration may be marked default: true")
        return self

    def policy_for(
        self, integration: AnyIntegrationConfig, folder: str
    ) -> tuple[Requirements | None, Quotas | None]:
        """Requirements and quotas of a job: the folder's override, else the integration's."""
        override = self.folders.get(folder) or FolderPolicy()
        return (
            override.requirements or integration.requirements,
            override.quotas or integration.quotas,
        )

    def integration(self, name: str | None = None) -> AnyIntegrationConfig:
        """The named integration, else the default one, else the only one."""
        if name:
            for item in self.integrations:
                if item.name == name:
                    return item
            known = ", ".join(i.name for i in self.integrations) or "none configured"
            raise NotFoundError(f"unknown integration '{name}' (known: {known})")
        for item in self.integrations:
            if item.default:
                return item
        if len(self.integrations) == 1:
            return self.integrations[0]
        if not self.integrations:
            raise NotFoundError("no integrations configured")
        raise NotFoundError("several integrations and none marked default: pass --integration")


def expand_env(value: Any, path: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; unset VAR is an error."""
    if isinstance(value, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def _sub(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in os.environ:
            return os.environ[var]
        if default is not None:
            return default
        raise ConfigError(f"config: environment variable {var} is not set (used at {path})")

    return _ENV_REF.sub(_sub, value)


def describe_validation_error(exc: ValidationError) -> str:
    """``loc: reason; ...`` of a pydantic error, without input values (they may be secrets)."""
    # Pydantic's own str() echoes input values, which may be secrets: print location + reason.
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_config(data: Any, source: str = "config") -> AppConfig:
    """Validate an already-loaded YAML document."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        return AppConfig.model_validate(expand_env(data))
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """``path``, else ``$ORCHESTRATION_PKG_CONFIG``, else ./orchestration_pkg.yaml if present."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name)
    return None


def load_config(path: str | os.PathLike[str] | None = None) -> AppConfig:
    """Load and validate the config file; no file at all gives an empty config."""
    resolved = resolve_config_path(path)
    if resolved is None:
        return AppConfig()
    try:
        text = resolved.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: cannot read {resolved}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config: {resolved} is not valid YAML{where}") from None
    return parse_config(data, str(resolved))


def explain_config_path(path: str | os.PathLike[str] | None = None) -> tuple[Path | None, str]:
    """Which config file :func:`load_config` reads, and why (for ``config show`` / warnings).

    Same order as :func:`resolve_config_path`: ``path`` (``--config``), else
    ``$ORCHESTRATION_PKG_CONFIG``, else ./orchestration_pkg.yaml (or .yml) in the current
    directory, else none (built-in defaults: ``catalog: sqlite:///catalog.db``).
    """
    if path:
        return Path(path), "given with --config"
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), f"from ${CONFIG_ENV}"
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name), f"found ./{name} in the current directory"
    looked = ", ".join(["--config", f"${CONFIG_ENV}", *(f"./{n}" for n in DEFAULT_CONFIG_NAMES)])
    return None, f"no config found (looked for {looked})"
