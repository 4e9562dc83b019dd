"""``CatalogResource``: the catalog on its own, for assets you write yourself.

Bind it next to an integration resource (``S3IntegrationResource`` ...) in your own
``Definitions``; ``register_manifest`` runs the same engine as the CLI and the built-in assets::

    Definitions(
        assets=[my_folder],
        resources={
            "catalog": CatalogResource(url=EnvVar("CATALOG_URL")),
            "acme": S3IntegrationResource(
                integration_name="acme", bucket="acme-private-data",
                aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
            ),
        },
    )
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.models import JobResult
from orchestration_pkg.core.registration import open_manifest
from orchestration_pkg.resources.base import IntegrationResource


class CatalogResource(ConfigurableResource):
    """A catalog by URL (SQLite or PostgreSQL); give the URL as ``EnvVar`` if it holds a
    password."""

    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/catalog")

    _catalog: Catalog | None = PrivateAttr(default=None)

    def get_catalog(self) -> Catalog:
        """The catalog (schema upgraded on first use), one per resource instance."""
        if self._catalog is None:
            self._catalog = Catalog(self.url)
        return self._catalog

    def register_manifest(
        self,
        manifest: str,
        folder: str,
        integration: IntegrationResource,
        options: RegistrationOptions | None = None,
    ) -> JobResult:
        """Register ``manifest`` (a local path or an object URL in ``integration``'s bucket)
        into ``folder``; returns the finished job (FAILED jobs are returned, not raised)."""
        storage = integration.get_storage()
        with open_manifest(manifest, storage) as rows:
            return RegistrationEngine(self.get_catalog(), storage).register(
                rows, folder, options, manifest_name=manifest
            )

    def teardown_after_execution(self, context: Any) -> None:
        if self._catalog is not None:
            self._catalog.dispose()
            self._catalog = None
