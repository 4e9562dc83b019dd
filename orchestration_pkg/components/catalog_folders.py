"""``CatalogFoldersComponent``: the whole integration as a Dagster Component (``defs.yaml``).

Its attributes are the config of ``orchestration_pkg.yaml`` (``catalog``, ``integrations``,
``folders``, ``retry``, ``retry_units``), resolved by Dagster's templating (``{{ env.VAR }}``
for secrets) and validated by the same models, plus the asset naming (``key_prefix``,
``translation``) and ``credentials_from``: an integration's credentials taken from a
dagster-aws / dagster-azure / dagster-gcp resource component elsewhere in the project.
"""

from typing import Annotated, Any

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import Field

from orchestration_pkg.assets.translator import CatalogFolder, CatalogTranslator
from orchestration_pkg.core.config import parse_config
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.providers.registry import provider
from orchestration_pkg.factory import build_definitions

from .scaffolder import CatalogFoldersScaffolder


def _template_vars(folder: CatalogFolder) -> dict[str, Any]:
    cfg = folder.integration
    return {
        "folder": folder.name,
        "integration": cfg.name if cfg else "",
        "provider": str(cfg.provider) if cfg else "",
        "data": folder,
    }


FolderTranslation = Annotated[
    TranslationFn[CatalogFolder],
    TranslationFnResolver[CatalogFolder](template_vars_for_translation_fn=_template_vars),
]


@dg.scaffold_with(CatalogFoldersScaffolder)
class CatalogFoldersComponent(dg.Component, dg.Resolvable, dg.Model):
    """Catalog folders as assets: files in your own buckets registered into a dataset
    catalog without copying (orchestration_pkg).

    One asset per folder in ``folders`` and per ``watch`` folder (batch-partitioned), the
    bucket assets they depend on, ``register_manifest_job``, the sensors and schedules. The
    attributes are the config of ``orchestration_pkg.yaml``; use ``{{ env.VAR }}`` for secrets.
    """

    catalog: str = Field(
        default="sqlite:///catalog.db", description="catalog URL (SQLite or PostgreSQL)"
    )
    integrations: list[dict[str, Any]] = Field(
        default_factory=list, description="integrations, as in orchestration_pkg.yaml"
    )
    folders: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="declared folders: manifest, policies, check"
    )
    retry: dict[str, Any] | None = Field(default=None, description="request retry policy")
    retry_units: dict[str, Any] | None = Field(
        default=None, description="the retry_transient_units sensor"
    )
    key_prefix: str = Field(
        default="orchestration_pkg",
        description="first part of asset keys; any other value also scopes job, sensor, "
        "schedule, partition and resource names (<prefix>__register_manifest_job), so several "
        "components load side by side",
    )
    credentials_from: dict[str, str] = Field(
        default_factory=dict,
        description="integration name → path (under defs/) of a resource component whose "
        "credentials it uses: dagster_aws.S3ResourceComponent, "
        "dagster_azure.AzureBlobStorageResourceComponent, dagster_gcp.GCSResourceComponent",
    )
    translation: FolderTranslation | None = Field(
        default=None,
        description="asset attributes per folder (key, group_name, owners, tags, ...); "
        "templates see folder, integration, provider",
    )

    def app_config(self, context: dg.ComponentLoadContext | None = None) -> Any:
        """The validated :class:`AppConfig` of these attributes."""
        data: dict[str, Any] = {
            "catalog": self.catalog,
            "integrations": [self._credentials(entry, context) for entry in self.integrations],
            "folders": self.folders,
        }
        if self.retry is not None:
            data["retry"] = self.retry
        if self.retry_units is not None:
            data["retry_units"] = self.retry_units
        where = str(context.path / "defs.yaml") if context is not None else "component"
        return parse_config(data, where)

    def _credentials(
        self, entry: dict[str, Any], context: dg.ComponentLoadContext | None
    ) -> dict[str, Any]:
        """``entry`` with the credential fields of its ``credentials_from`` component."""
        name = str(entry.get("name", ""))
        path = self.credentials_from.get(name)
        if path is None:
            return entry
        if context is None:
            raise ConfigError(f"credentials_from.{name}: needs the component load context")
        kind = str(entry.get("provider", "s3"))
        resource_class = provider(kind).resource_class()
        found = getattr(context.load_component(path), "resource", None)
        if resource_class is None or found is None:
            raise ConfigError(
                f"credentials_from.{name}: {path} gives no resource a {kind} integration can use"
            )
        taken = sorted(set(entry) & set(resource_class.credential_fields))
        if taken:
            raise ConfigError(
                f"integration '{name}': {', '.join(taken)} come from {path} (credentials_from)"
            )
        return entry | resource_class.credentials_of(found, entry)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        translator = _ComponentTranslator(self.key_prefix, self.translation)
        return build_definitions(self.app_config(context), translator=translator)


class _ComponentTranslator(CatalogTranslator):
    """The default translator, then the component's ``translation`` attributes on top."""

    def __init__(self, key_prefix: str, translation: Any) -> None:
        super().__init__(key_prefix)
        self.translation = translation

    def get_asset_spec(self, folder: CatalogFolder) -> dg.AssetSpec:
        spec = super().get_asset_spec(folder)
        return self.translation(spec, folder) if self.translation else spec
