"""Dagster Components of orchestration_pkg (the ``dagster_dg_cli.registry_modules`` entry
point, so ``dg list components`` shows them)."""

from orchestration_pkg.components.catalog_folders import CatalogFoldersComponent

__all__ = ["CatalogFoldersComponent"]
