"""The user's YAML config: catalog URL and integrations, with ``${ENV_VAR}`` secrets."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import Discriminator, Field, Tag, ValidationError, model_validator

from orchestration_pkg.core.errors import ConfigError, NotFoundError
from orchestration_pkg.core.folders import FolderNameError, validate_folder_name
from orchestration_pkg.core.gateway.config import GatewayConfig
from orchestration_pkg.core.manifest.limits import InputLimits
from orchestration_pkg.core.policy import FolderPolicy, Quotas, Requirements
from orchestration_pkg.core.providers.azure.config import (
    AzureAccountKeyAuth,
    AzureConnectionStringAuth,
    AzureIntegrationConfig,
    AzureSasAuth,
    AzureServicePrincipalAuth,
)
from orchestration_pkg.core.providers.base import ManifestWatch, RetryConfig, StrictModel
from orchestration_pkg.core.providers.direct.config import DirectIntegrationConfig
from orchestration_pkg.core.providers.gcs.config import (
    GCSAnonymousAuth,
    GCSDefaultAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.providers.registry import PROVIDERS
from orchestration_pkg.core.providers.s3.config import (
    AccessKeyAuth,
    AssumeRoleAuth,
    DefaultAuth,
    S3IntegrationConfig,
)

CONFIG_ENV = "ORCHESTRATION_PKG_CONFIG"
DEFAULT_CONFIG_NAMES = ("orchestration_pkg.yaml", "orchestration_pkg.yml")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# Provider config models live in their provider packages; re-exported here.
__all__ = [
    "CONFIG_ENV",
    "AccessKeyAuth",
    "AnyIntegrationConfig",
    "AppConfig",
    "AssumeRoleAuth",
    "AzureAccountKeyAuth",
    "AzureConnectionStringAuth",
    "AzureIntegrationConfig",
    "AzureSasAuth",
    "AzureServicePrincipalAuth",
    "DefaultAuth",
    "DirectIntegrationConfig",
    "GCSAnonymousAuth",
    "GCSDefaultAuth",
    "GCSIntegrationConfig",
    "GCSServiceAccountAuth",
    "IntegrationConfig",
    "JobsConfig",
    "ManifestWatch",
    "RetryConfig",
    "S3IntegrationConfig",
    "describe_validation_error",
    "expand_env",
    "load_config",
    "redact_env_values",
    "parse_config",
    "resolve_config_path",
]


def _provider_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("provider", "s3"))
    return str(getattr(value, "provider", "s3"))


# Both unions are built from the registry: a new provider needs no change here.
_MODELS = tuple(p.config_model for p in PROVIDERS.values())
IntegrationConfig = Annotated[
    Union[tuple(Annotated[p.config_model, Tag(p.name)] for p in PROVIDERS.values())],  # noqa: UP007
    Discriminator(_provider_of),
]
AnyIntegrationConfig = Union[_MODELS]  # noqa: UP007


class RetryUnitsConfig(StrictModel):
    """The Dagster sensor ``retry_transient_units``: retries per original job, and backoff."""

    max_attempts: int = Field(default=3, ge=1, le=20, description="retries per original job")
    backoff_seconds: float = Field(
        default=60.0, ge=0, description="wait after a job finished; doubles per attempt"
    )


class JobsConfig(StrictModel):
    """Job liveness and catalog contention: when a silent job counts as abandoned, how long a
    write waits for a busy catalog."""

    stale_after_s: float = Field(
        default=120.0,
        gt=0,
        description="a PENDING/RUNNING job without a heartbeat for this long is ABANDONED "
        "(heartbeats every stale_after_s / 4)",
    )
    busy_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="how long one catalog write waits for the catalog before the job fails "
        "with 'catalog busy'",
    )


class AppConfig(StrictModel):
    catalog: str = "sqlite:///catalog.db"
    integrations: list[IntegrationConfig] = Field(default_factory=list)
    folders: dict[str, FolderPolicy] = Field(
        default_factory=dict, description="per-folder requirements / quotas (override)"
    )
    retry: RetryConfig = Field(
        default_factory=RetryConfig, description="retry policy of every integration's requests"
    )
    retry_units: RetryUnitsConfig = Field(
        default_factory=RetryUnitsConfig, description="automatic retries of transient unit errors"
    )
    gateway: GatewayConfig = Field(
        default_factory=GatewayConfig, description="orchestration-pkg serve and gateway links"
    )
    limits: InputLimits = Field(
        default_factory=InputLimits, description="what one manifest row may hold"
    )
    jobs: JobsConfig = Field(default_factory=JobsConfig, description="job liveness, busy catalog")

    @model_validator(mode="after")
    def _inherit_retry(self) -> AppConfig:
        """Each integration's ``retry:`` fields override the top-level block field by field."""
        for item in self.integrations:
            given = item.retry.model_dump(exclude_unset=True)
            item.retry = self.retry.model_copy(update=given)
        return self

    @model_validator(mode="after")
    def _unique_names_one_default(self) -> AppConfig:
        names = [i.name for i in self.integrations]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"integration names must be unique, repeated: {', '.join(dupes)}")
        if sum(i.default for i in self.integrations) > 1:
            raise ValueError("at most one integration may be marked default: true")
        return self

    @model_validator(mode="after")
    def _folders_are_valid(self) -> AppConfig:
        """Declared folders (``folders:``, ``watch.folder``, ``manifests.folder``) have valid
        names, and ``folders.<name>.integration`` names a configured integration."""
        names = [i.name for i in self.integrations]
        declared = [(f"folders.{n}", n) for n in self.folders]
        for i, item in enumerate(self.integrations):
            for block in ("watch", "manifests"):
                folder = getattr(getattr(item, block), "folder", None)
                if folder is not None:
                    declared.append((f"integrations.{i}.{block}.folder", folder))
        for where, name in declared:
            try:
                validate_folder_name(name)
            except FolderNameError as exc:
                raise ValueError(f"{where}: {exc}") from None
        for name, policy in self.folders.items():
            if policy.integration is not None and policy.integration not in names:
                known = ", ".join(names) or "none configured"
                raise ValueError(
                    f"folders.{name}.integration: unknown integration "
                    f"'{policy.integration}' (known: {known})"
                )
        return self

    def folder_integration(self, folder: str) -> AnyIntegrationConfig | None:
        """Where a declared folder's files come from: ``folders.<folder>.integration``, else
        the integration watching it, else the default integration (None when there is none)."""
        policy = self.folders.get(folder)
        if policy is not None and policy.integration:
            return self.integration(policy.integration)
        for item in self.integrations:
            if item.watch is not None and item.watch.folder == folder:
                return item
        try:
            return self.integration(None)
        except NotFoundError:
            return None

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


def expand_env(value: Any, path: str = "", found: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; unset VAR is an error.

    ``found`` (if given) collects each substituted value → the ``${VAR}`` it came from, so
    that error messages can redact them (:func:`redact_env_values`).
    """
    if isinstance(value, dict):
        return {
            k: expand_env(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_env(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def _sub(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in os.environ:
            result = os.environ[var]
        elif default is not None:
            result = default
        else:
            raise ConfigError(f"config: environment variable {var} is not set (used at {path})")
        if found is not None and result:
            found[result] = f"${{{var}}}"
        return result

    return _ENV_REF.sub(_sub, value)


def redact_env_values(message: str, found: dict[str, str]) -> str:
    """``message`` with every value that came from a ``${VAR}`` replaced by ``${VAR}``
    (longest first, so a value containing another is redacted whole)."""
    for value in sorted(found, key=len, reverse=True):
        message = message.replace(value, found[value])
    return message


def describe_validation_error(exc: ValidationError) -> str:
    """``loc: reason; ...`` of a pydantic error, without input values (they may be secrets)."""
    # Pydantic's own str() echoes input values, which may be secrets: print location + reason.
    # Values under ``auth`` are never repeated; elsewhere a value is shown only when it is a
    # short plain word (a typo like 'gcp'), never what may be a pasted secret.
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        path, model = _user_path(err["loc"])
        loc = ".".join(str(p) for p in path) or "(top level)"
        if err["type"] == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            if "auth" in path:
                allowed = str(ctx.get("expected_tags", "")).replace("'", "")
                parts.append(f"{loc}.method: unknown auth method (allowed: {allowed})")
                continue
            if err["loc"][:1] == ("integrations",) and len(err["loc"]) == 2:
                shown = _shown_word(str(ctx.get("tag", "")))
                allowed = ", ".join(PROVIDERS)
                parts.append(f"{loc}.provider: unknown provider {shown} (allowed: {allowed})")
                continue
        message = err["msg"]
        if "auth" in path and err["type"] == "value_error":
            message = "invalid value"  # a validator's text may quote what it refused
        if err["type"] == "extra_forbidden" and model is not None and path:
            close = difflib.get_close_matches(str(path[-1]), list(model.model_fields), n=1)
            message += f" (did you mean '{close[0]}'?)" if close else ""
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def _shown_word(text: str) -> str:
    """``'text'`` if it is a short plain word, else ``(value not shown)``."""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,19}", text):
        return repr(text)
    return "(value not shown)"


def _user_path(loc: tuple[Any, ...]) -> tuple[list[Any], type[Any] | None]:
    """``loc`` as the user wrote it: without pydantic's union tags (``integrations.0.s3.x`` →
    ``integrations.0.x``, ``auth.access_key.y`` → ``auth.y``), and the integration model
    whose direct field the path names (for "did you mean" hints)."""
    path: list[Any] = []
    model: type[Any] | None = None
    for i, part in enumerate(loc):
        if loc[:1] == ("integrations",) and i == 2 and part in PROVIDERS:
            model = PROVIDERS[str(part)].config_model
            continue
        if path[-1:] == ["auth"] and isinstance(part, str) and i + 1 < len(loc):
            continue  # the auth method's tag
        path.append(part)
    if model is not None and len(path) != 3:
        model = None
    return path, model


def parse_config(data: Any, source: str = "config") -> AppConfig:
    """Validate an already-loaded YAML document."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    found: dict[str, str] = {}
    expanded = expand_env(data, found=found)
    try:
        return AppConfig.model_validate(expanded)
    except ValidationError as exc:
        message = redact_env_values(describe_validation_error(exc), found)
        raise ConfigError(f"{source}: {message}") from None


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
        # PyYAML's "problem" is a fixed phrase (never the document's text, which may hold
        # secrets); its mark gives the position.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        why = f": {problem}" if problem else ""
        raise ConfigError(f"config: {resolved} is not valid YAML{where}{why}") from None
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
