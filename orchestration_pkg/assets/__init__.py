"""Dagster assets of orchestration_pkg."""

from orchestration_pkg.assets.integrations import integration_health
from orchestration_pkg.assets.registration import (
    RegistrationConfig,
    manifest,
    registered_folder,
    upload_results,
)

REGISTRATION_ASSETS = [manifest, registered_folder, upload_results]
ALL_ASSETS = [*REGISTRATION_ASSETS, integration_health]

__all__ = [
    "REGISTRATION_ASSETS",
    "RegistrationConfig",
    "manifest",
    "registered_folder",
    "upload_results",
]
