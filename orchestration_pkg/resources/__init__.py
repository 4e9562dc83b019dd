"""Dagster resources of the plugin, each usable on its own in your ``Definitions``:

``S3IntegrationResource`` (dagster-aws), ``GCSIntegrationResource`` (dagster-gcp),
``AzureIntegrationResource`` (dagster-azure), ``CatalogResource`` and ``PlatformResource``.
Imported on first use (PEP 562), so an ``[s3]``-only install never imports Azure or Google.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AzureIntegrationResource",
    "CatalogResource",
    "GCSIntegrationResource",
    "PlatformResource",
    "S3IntegrationResource",
]

_HOME = {
    "S3IntegrationResource": "s3",
    "GCSIntegrationResource": "gcs",
    "AzureIntegrationResource": "azure",
    "CatalogResource": "catalog",
    "PlatformResource": "platform",
}

if TYPE_CHECKING:
    from orchestration_pkg.resources.azure import AzureIntegrationResource
    from orchestration_pkg.resources.catalog import CatalogResource
    from orchestration_pkg.resources.gcs import GCSIntegrationResource
    from orchestration_pkg.resources.platform import PlatformResource
    from orchestration_pkg.resources.s3 import S3IntegrationResource


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
