"""Dagster sensors of orchestration_pkg."""

from orchestration_pkg.sensors.manifest_sensor import (
    ManifestCursor,
    build_manifest_sensor,
    build_manifest_sensors,
    scan_manifests,
)

__all__ = ["ManifestCursor", "build_manifest_sensor", "build_manifest_sensors", "scan_manifests"]
