"""The resource the assets and sensors share: config → catalog + storage per integration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from dagster import ConfigurableResource, InitResourceContext, ResourceDefinition, resource
from pydantic import PrivateAttr

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import AppConfig, load_config
from orchestration_pkg.core.providers.registry import provider
from orchestration_pkg.core.registration import build_storage
from orchestration_pkg.core.storage import Storage


class PlatformResource(ConfigurableResource):
    """Points at the user's YAML config; secrets stay ``${ENV}`` references resolved at run time,
    so nothing secret ever lands in Dagster's run config or UI."""

    config_path: str = ""

    _config: AppConfig | None = PrivateAttr(default=None)
    _catalog: Catalog | None = PrivateAttr(default=None)
    _storages: dict[str, Storage] = PrivateAttr(default_factory=dict)

    def app_config(self) -> AppConfig:
        if self._config is None:
            self._config = load_config(self.config_path or None)
        return self._config

    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.for_config(self.app_config())
        return self._catalog

    def storage(self, integration: str | None = None) -> Storage:
        """The storage of ``integration`` (default integration when None), cached."""
        cfg = self.app_config().integration(integration)
        if cfg.name not in self._storages:
            self._storages[cfg.name] = _storage_for(cfg)
        return self._storages[cfg.name]

    @classmethod
    def for_config(cls, config: AppConfig) -> PlatformResource:
        """A resource on an already loaded config (see :func:`platform_resource`)."""
        platform = cls()
        platform._config = config
        return platform

    def close(self) -> None:
        """Dispose of the catalog's connections (storages hold no open state)."""
        if self._catalog is not None:
            self._catalog.dispose()
            self._catalog = None

    def teardown_after_execution(self, context: Any) -> None:
        self.close()


def platform_resource(
    config: AppConfig | str | os.PathLike[str],
) -> PlatformResource | ResourceDefinition:
    """The ``platform`` resource of ``build_definitions``.

    A config *file* gives ``PlatformResource(config_path=...)``: the file is read (and its
    ``${ENV}`` references resolved) where the run executes. A config *object* (built in code
    or by the Component) is closed over by a resource function instead, so its resolved
    secrets never enter Dagster's resource config, UI or run storage.
    """
    if not isinstance(config, AppConfig):
        return PlatformResource(config_path=str(Path(config).resolve()))
    given = config

    @resource(description="orchestration_pkg: the catalog and the storages of a given config")
    def _platform(_context: InitResourceContext) -> Iterator[PlatformResource]:
        platform = PlatformResource.for_config(given)
        try:
            yield platform
        finally:
            platform.close()

    return _platform


def _storage_for(cfg: Any) -> Storage:
    """Storage for one config entry, through its provider's resource when there is one."""
    resource_class = provider(cfg.provider).resource_class()
    if resource_class is None:  # e.g. direct access: no SDK resource
        return build_storage(cfg)
    return cast(Storage, resource_class.from_config(cfg).get_storage())
