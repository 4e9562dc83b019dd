"""How a ``watch:`` block becomes Dagster assets: keys, groups, descriptions, owners, tags.

Like ``DagsterSlingTranslator`` / ``DagsterDltTranslator``: subclass :class:`WatchTranslator`
and override any ``get_*`` method, then pass an instance to ``build_definitions``.
"""

from __future__ import annotations

from typing import Any

from dagster import AssetKey, AutomationCondition

from orchestration_pkg.core.config import AnyIntegrationConfig

DEFAULT_KEY_PREFIX = "orchestration_pkg"


def watch_folder(cfg: AnyIntegrationConfig) -> str:
    """The catalog folder a watched integration registers into (``watch.folder``)."""
    assert cfg.watch is not None and cfg.watch.folder
    return cfg.watch.folder


def is_watched(cfg: AnyIntegrationConfig) -> bool:
    """Whether Dagster watches this integration: a ``watch:`` block with a folder, on a
    provider that can list (direct URLs cannot)."""
    return bool(cfg.watch and cfg.watch.folder and cfg.listing_root() is not None)


class WatchTranslator:
    """Maps an integration with ``watch:`` to its folder asset's and bucket asset's specs."""

    def __init__(self, key_prefix: str = DEFAULT_KEY_PREFIX) -> None:
        self.key_prefix = key_prefix

    def get_asset_key(self, integration_cfg: AnyIntegrationConfig) -> AssetKey:
        """Key of the partitioned folder asset: ``[key_prefix, "folder", <folder>]``."""
        return AssetKey([self.key_prefix, "folder", watch_folder(integration_cfg)])

    def get_source_asset_key(self, integration_cfg: AnyIntegrationConfig) -> AssetKey:
        """Key of the observable bucket prefix: ``[key_prefix, "bucket", <integration>]``."""
        return AssetKey([self.key_prefix, "bucket", integration_cfg.name])

    def get_group_name(self, integration_cfg: AnyIntegrationConfig) -> str:
        return integration_cfg.name.replace("-", "_").replace(".", "_")

    def get_description(self, integration_cfg: AnyIntegrationConfig) -> str:
        watch = integration_cfg.watch
        assert watch is not None
        return (
            f"Catalog folder '{watch.folder}' mirroring "
            f"{integration_cfg.location()}{watch.prefix} (integration {integration_cfg.name}); "
            "one partition per registered batch."
        )

    def get_owners(self, integration_cfg: AnyIntegrationConfig) -> list[str]:
        return []

    def get_tags(self, integration_cfg: AnyIntegrationConfig) -> dict[str, str]:
        return {"orchestration_pkg/integration": integration_cfg.name}

    def get_kinds(self, integration_cfg: AnyIntegrationConfig) -> set[str]:
        return {str(integration_cfg.provider)}

    def get_automation_condition(
        self, integration_cfg: AnyIntegrationConfig
    ) -> AutomationCondition[Any] | None:
        return None
