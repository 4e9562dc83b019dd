"""Dagster ``Definitions`` of orchestration_pkg, loaded by workspace.yaml."""

from __future__ import annotations

import os

from dagster import Definitions, define_asset_job

from orchestration_pkg.assets import ALL_ASSETS, REGISTRATION_ASSETS
from orchestration_pkg.assets.watch import build_watch_definitions
from orchestration_pkg.assets.watch_translator import WatchTranslator
from orchestration_pkg.core.config import load_config, resolve_config_path
from orchestration_pkg.resources.platform import PlatformResource
from orchestration_pkg.sensors import build_manifest_sensors
from orchestration_pkg.sensors.retry_sensor import (
    RetrySchedule,
    build_retry_sensor,
    retry_units_job,
)
from orchestration_pkg.sensors.sweep_sensor import build_sweep_sensor

REGISTER_JOB = "register_manifest_job"


def build_definitions(
    config_path: str | os.PathLike[str] | None = None,
    *,
    watch_translator: WatchTranslator | None = None,
) -> Definitions:
    """Assets, jobs, sensors, schedules and resources for the config at ``config_path`` (or
    the default); ``watch_translator`` names the assets of integrations with ``watch:``."""
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
    watch = build_watch_definitions(config, watch_translator)
    platform = PlatformResource(config_path=str(path.resolve()) if path else "")
    return Definitions(
        assets=[*ALL_ASSETS, *watch.assets],
        jobs=[job, retry_units_job, *watch.jobs],
        sensors=[
            *build_manifest_sensors(config, REGISTER_JOB),
            build_retry_sensor(schedule),
            build_sweep_sensor(config.jobs.stale_after_s),
            *watch.sensors,
        ],
        schedules=watch.schedules,
        resources={"platform": platform},
    )


defs = build_definitions()
