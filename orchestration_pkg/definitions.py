"""Dagster ``Definitions`` of orchestration_pkg, loaded by workspace.yaml."""

from __future__ import annotations

import os

from dagster import Definitions, define_asset_job

from orchestration_pkg.assets import ALL_ASSETS, REGISTRATION_ASSETS
from orchestration_pkg.core.config import load_config, resolve_config_path
from orchestration_pkg.resources.platform import PlatformResource
from orchestration_pkg.sensors import build_manifest_sensors
from orchestration_pkg.sensors.retry_sensor import (
    RetrySchedule,
    build_retry_sensor,
    retry_units_job,
)

REGISTER_JOB = "register_manifest_job"


def build_definitions(config_path: str | os.PathLike[str] | None = None) -> Definitions:
    """Assets, job, sensors and resources for the config at ``config_path`` (or the default)."""
    path = resolve_config_path(config_path)
    config = load_config(path)
    job = define_asset_job(
        REGISTER_JOB,
        selection=REGISTRATION_ASSETS,
        description="Register one manifest into one catalog folder.",
    )
    schedule = RetrySchedule(
        max_attempts=config.retry_units.max_attempts,
        backoff_seconds=config.retry_units.backoff_seconds,
    )
    platform = PlatformResource(config_path=str(path.resolve()) if path else "")
    return Definitions(
        assets=ALL_ASSETS,
        jobs=[job, retry_units_job],
        sensors=[*build_manifest_sensors(config, REGISTER_JOB), build_retry_sensor(schedule)],
        resources={"platform": platform},
    )


defs = build_definitions()
