"""Dagster assets of orchestration_pkg."""

from orchestration_pkg.assets.registration import (
    RegistrationConfig,
    manifest,
    registered_folder,
    upload_results,
)

REGISTRATION_ASSETS = [manifest, registered_folder, upload_results]

__all__ = [
    "REGISTRATION_ASSETS",
    "RegistrationConfig",
    "manifest",
    "registered_folder",
    "upload_results",
]
