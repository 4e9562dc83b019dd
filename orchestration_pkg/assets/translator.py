"""How catalog folders become Dagster assets: keys, groups, descriptions, owners, tags, checks.

Like ``DagsterSlingTranslator`` / ``DagsterDltTranslator``: subclass :class:`CatalogTranslator`
and override :meth:`~CatalogTranslator.get_asset_spec`, or any of the ``get_*`` methods it is
made of, then pass an instance to ``build_definitions(..., translator=...)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetCheckSpec, AssetKey, AssetOut, AssetSpec, AutomationCondition, Nothing

from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.policy import FolderPolicy
from orchestration_pkg.core.providers.base import PrefixWatch

DEFAULT_KEY_PREFIX = "orchestration_pkg"
CHECK_NAME = "no_unit_errors"
TAG_INTEGRATION = "orchestration_pkg/integration"
TAG_PROVIDER = "orchestration_pkg/provider"
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
_KEY_SAFE = re.compile(r"[A-Za-z0-9_.-]+")


def ident(name: str) -> str:
    """A name as a Dagster name part (letters, digits, underscores)."""
    return _NOT_IDENT.sub("_", name)


def key_part(name: str) -> str:
    """A folder name as an asset key part: unchanged when Dagster can derive op and check
    names from it (letters, digits, ``_ - .``), else those characters only plus a short
    digest (``my lake`` → ``my_lake_1b5c2e``), so different names stay different keys."""
    if _KEY_SAFE.fullmatch(name):
        return name
    return f"{ident(name)}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def op_name_for(key: AssetKey) -> str:
    """The op name of a folder asset (what its run config is keyed by)."""
    return key.to_python_identifier()


def folder_asset_args(spec: AssetSpec) -> dict[str, Any]:
    """``multi_asset`` arguments of a folder asset: one output named ``folder`` (a name derived
    from the key may be invalid: ``my lake``) without a value (the catalog is the data)."""
    bare = spec.replace_attributes(deps=[], partitions_def=None)
    return {
        "outs": {"folder": AssetOut.from_spec(bare, dagster_type=Nothing)},
        "deps": list(spec.deps),
        "partitions_def": spec.partitions_def,
    }


def is_watched(cfg: AnyIntegrationConfig) -> bool:
    """Whether Dagster watches this integration: a ``watch:`` block with a folder, on a
    provider that can list (direct URLs cannot)."""
    return bool(cfg.watch and cfg.watch.folder and cfg.listing_root() is not None)


@dataclass(frozen=True)
class CatalogFolder:
    """One catalog folder declared in config (``folders:`` or a ``watch:`` block): what a
    translator turns into an asset."""

    name: str
    integration: AnyIntegrationConfig | None = None
    policy: FolderPolicy = field(default_factory=FolderPolicy)
    declared: bool = True
    """False for a folder only a manifest run named (no asset; its materializations are
    reported under the key the translator gives it)."""

    @property
    def watch(self) -> PrefixWatch | None:
        """The ``watch:`` block that fills this folder (its asset is then batch-partitioned)."""
        cfg = self.integration
        if cfg is not None and is_watched(cfg) and cfg.watch and cfg.watch.folder == self.name:
            return cfg.watch
        return None


def catalog_folders(config: AppConfig) -> list[CatalogFolder]:
    """Every declared folder once: ``folders:`` in order, then the ``watch:`` folders."""
    watchers: dict[str, list[AnyIntegrationConfig]] = {}
    for cfg in config.integrations:
        if is_watched(cfg):
            assert cfg.watch is not None and cfg.watch.folder
            watchers.setdefault(cfg.watch.folder, []).append(cfg)
    for name, found in watchers.items():
        if len(found) > 1:
            raise ConfigError(
                f"folder '{name}' is watched by integrations "
                f"{', '.join(c.name for c in found)}: watch one folder per integration"
            )
        policy = config.folders.get(name)
        if policy is not None and policy.integration not in (None, found[0].name):
            raise ConfigError(
                f"folders.{name}.integration is '{policy.integration}' but integration "
                f"'{found[0].name}' watches the folder"
            )
    names = list(config.folders) + [n for n in watchers if n not in config.folders]
    return [
        CatalogFolder(
            name=name,
            integration=config.folder_integration(name),
            policy=config.folders.get(name) or FolderPolicy(),
        )
        for name in names
    ]


class CatalogTranslator:
    """Maps a :class:`CatalogFolder` to its asset's spec, and an integration to the external
    asset of its bucket prefix (the folder asset's upstream)."""

    def __init__(self, key_prefix: str = DEFAULT_KEY_PREFIX) -> None:
        self.key_prefix = key_prefix

    # -- the folder asset ----------------------------------------------------------------------

    def get_asset_spec(self, folder: CatalogFolder) -> AssetSpec:
        """The folder asset's spec, from the ``get_*`` methods below."""
        return AssetSpec(
            key=self.get_asset_key(folder),
            deps=self.get_deps(folder),
            group_name=self.get_group_name(folder),
            description=self.get_description(folder),
            owners=self.get_owners(folder),
            tags=self.get_tags(folder),
            kinds=self.get_kinds(folder),
            metadata=self.get_metadata(folder),
            automation_condition=self.get_automation_condition(folder),
        )

    def get_asset_key(self, folder: CatalogFolder) -> AssetKey:
        """``[key_prefix, "folder", <folder name>]`` (see :func:`key_part` for names with
        spaces or non-ASCII letters)."""
        return AssetKey([self.key_prefix, "folder", key_part(folder.name)])

    def get_deps(self, folder: CatalogFolder) -> Sequence[AssetKey]:
        """The integration's bucket asset (none for a folder without an integration)."""
        return [self.get_bucket_asset_key(folder.integration)] if folder.integration else []

    def get_group_name(self, folder: CatalogFolder) -> str:
        """One group per integration (``catalog`` for a folder without one)."""
        return ident(folder.integration.name) if folder.integration else "catalog"

    def get_description(self, folder: CatalogFolder) -> str:
        cfg, watch = folder.integration, folder.watch
        if cfg is not None and watch is not None:
            return (
                f"Catalog folder '{folder.name}' mirroring {cfg.location()}{watch.prefix} "
                f"(integration {cfg.name}); one partition per registered batch."
            )
        source = f"integration {cfg.name}" if cfg else "the integration a run names"
        manifest = folder.policy.manifest
        what = f"manifest {manifest}" if manifest else "the manifest a run gives"
        text = f"Catalog folder '{folder.name}': files of {source}, registered from {what}."
        return f"{folder.policy.description}\n\n{text}" if folder.policy.description else text

    def get_owners(self, folder: CatalogFolder) -> Sequence[str]:
        return []

    def get_tags(self, folder: CatalogFolder) -> dict[str, str]:
        cfg = folder.integration
        if cfg is None:
            return {}
        return {TAG_INTEGRATION: cfg.name, TAG_PROVIDER: str(cfg.provider)}

    def get_kinds(self, folder: CatalogFolder) -> set[str]:
        return {str(folder.integration.provider)} if folder.integration else set()

    def get_metadata(self, folder: CatalogFolder) -> dict[str, Any]:
        """Where the files live (never a secret): shown on the asset's page."""
        cfg = folder.integration
        meta: dict[str, Any] = {"folder": folder.name}
        if cfg is not None:
            meta |= {"integration": cfg.name, "location": cfg.location()}
        if folder.watch is not None:
            meta["watched_prefix"] = folder.watch.prefix
        return meta

    def get_automation_condition(self, folder: CatalogFolder) -> AutomationCondition | None:
        return None

    def get_check_spec(self, folder: CatalogFolder, asset_key: AssetKey) -> AssetCheckSpec:
        """``no_unit_errors`` on the folder asset; ``blocking`` from ``folders.<name>.check``."""
        return AssetCheckSpec(
            CHECK_NAME,
            asset=asset_key,
            blocking=folder.policy.check.blocking,
            description="fails when a file of the run could not be registered",
        )

    # -- the bucket asset ----------------------------------------------------------------------

    def get_bucket_asset_key(self, integration: AnyIntegrationConfig) -> AssetKey:
        """``[key_prefix, "bucket", <integration name>]``."""
        return AssetKey([self.key_prefix, "bucket", integration.name])

    def get_bucket_asset_spec(self, integration: AnyIntegrationConfig) -> AssetSpec:
        """The external asset of the integration's bucket/prefix (observed, never copied)."""
        watch = integration.watch
        prefix = watch.prefix if watch is not None and is_watched(integration) else ""
        return AssetSpec(
            key=self.get_bucket_asset_key(integration),
            group_name=ident(integration.name),
            description=f"Objects under {integration.location()}{prefix} (never copied)",
            kinds={str(integration.provider)},
            tags={TAG_INTEGRATION: integration.name, TAG_PROVIDER: str(integration.provider)},
        )
