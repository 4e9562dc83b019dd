"""The provider registry: one entry per provider, everything else derives from it.

The config union of :mod:`orchestration_pkg.core.config`, ``build_storage`` and the Dagster
resources of ``PlatformResource`` all read :data:`PROVIDERS`. Entries name their classes as
``"module:attribute"`` strings, imported on first use, so that reading a config never loads
boto3, google-cloud-storage or azure-storage-blob. A new provider is one package under
``core/providers/`` plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from orchestration_pkg.core.errors import ConfigError

_PKG = "orchestration_pkg.core.providers"


def load(path: str) -> Any:
    """The attribute named by ``"package.module:attribute"``."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Provider:
    """One storage provider: its config model, storage class and optional Dagster resource."""

    name: str
    config: str
    storage: str
    resource: str | None = None
    extra: str | None = None
    """The pip extra that installs the provider's SDKs (``orchestration_pkg[<extra>]``)."""

    @property
    def config_model(self) -> type[Any]:
        """The pydantic model of this provider's integrations (no SDK imported)."""
        return _load_cached(self.config)

    def storage_class(self) -> type[Any]:
        """The storage class (imports the provider's SDK)."""
        return self._load_sdk(self.storage)

    def resource_class(self) -> type[Any] | None:
        """The Dagster ``ConfigurableResource`` of this provider, if it has one."""
        return self._load_sdk(self.resource) if self.resource else None

    def _load_sdk(self, path: str) -> Any:
        """``path``'s attribute; a missing SDK is a ``ConfigError`` naming the extra."""
        try:
            return _load_cached(path)
        except ModuleNotFoundError as exc:
            if not self.extra or (exc.name or "").startswith("orchestration_pkg"):
                raise  # our own module missing: a broken install, not a missing extra
            raise ConfigError(
                f"provider {self.name} needs {exc.name}, which is not installed: "
                f"pip install 'orchestration_pkg[{self.extra}]'"
            ) from None


@cache
def _load_cached(path: str) -> Any:
    return load(path)


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "s3",
            config=f"{_PKG}.s3.config:S3IntegrationConfig",
            storage=f"{_PKG}.s3.storage:S3Storage",
            resource="orchestration_pkg.resources.s3:S3IntegrationResource",
            extra="s3",
        ),
        Provider(
            "gcs",
            config=f"{_PKG}.gcs.config:GCSIntegrationConfig",
            storage=f"{_PKG}.gcs.storage:GCSStorage",
            resource="orchestration_pkg.resources.gcs:GCSIntegrationResource",
            extra="gcs",
        ),
        Provider(
            "azure",
            config=f"{_PKG}.azure.config:AzureIntegrationConfig",
            storage=f"{_PKG}.azure.storage:AzureStorage",
            resource="orchestration_pkg.resources.azure:AzureIntegrationResource",
            extra="azure",
        ),
        Provider(
            "direct",
            config=f"{_PKG}.direct.config:DirectIntegrationConfig",
            storage=f"{_PKG}.direct.storage:DirectStorage",
        ),
    )
}


def provider(name: str) -> Provider:
    """The registered provider ``name``; ``ConfigError`` naming the allowed ones otherwise."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ConfigError(f"unknown provider {name!r} (allowed: {', '.join(PROVIDERS)})") from None
