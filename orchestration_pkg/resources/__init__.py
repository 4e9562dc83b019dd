"""Dagster resources of the plugin."""

from __future__ import annotations

from orchestration_pkg.resources.s3 import S3IntegrationResource

__all__ = ["S3IntegrationResource"]
