"""Dagster assets of orchestration_pkg: folder assets (one per declared folder), the bucket
assets they depend on, ``integration_health``, and the translator naming them."""

from orchestration_pkg.assets.integrations import integration_health
from orchestration_pkg.assets.translator import CatalogFolder, CatalogTranslator, catalog_folders

__all__ = ["CatalogFolder", "CatalogTranslator", "catalog_folders", "integration_health"]
