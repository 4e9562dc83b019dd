"""``build_definitions``: the public factory of the Dagster definitions.

Nothing here runs at import: ``import orchestration_pkg`` loads no config and no definitions
(the workspace entry point :mod:`orchestration_pkg.definitions` calls this factory).
"""

from __future__ import annotations

import os
from typing import Any

from dagster import Definitions

from orchestration_pkg.assets.folders import build_bucket_asset, build_folder_asset
from orchestration_pkg.assets.integrations import build_integration_health
from orchestration_pkg.assets.manifest_job import REGISTER_JOB, build_register_manifest_job
from orchestration_pkg.assets.naming import DefinitionNames
from orchestration_pkg.assets.translator import (
    DEFAULT_KEY_PREFIX,
    CatalogTranslator,
    catalog_folders,
)
from orchestration_pkg.assets.watch import build_watch_definitions
from orchestration_pkg.core.config import AppConfig, load_config, resolve_config_path
from orchestration_pkg.resources.platform import platform_resource
from orchestration_pkg.sensors.manifest_sensor import build_manifest_sensors
from orchestration_pkg.sensors.retry_sensor import (
    RetrySchedule,
    build_retry_sensor,
    build_retry_units_job,
)
from orchestration_pkg.sensors.sweep_sensor import build_sweep_sensor

__all__ = ["REGISTER_JOB", "build_definitions"]


def build_definitions(
    config: AppConfig | str | os.PathLike[str] | None = None,
    *,
    key_prefix: str | None = None,
    translator: CatalogTranslator | None = None,
) -> Definitions:
    """Assets, checks, jobs, sensors, schedules and the ``platform`` resource of a config.

    ``config``: an :class:`AppConfig`, or the path of a YAML config (default: as the CLI finds
    it: ``$ORCHESTRATION_PKG_CONFIG``, else ./orchestration_pkg.yaml). ``key_prefix`` is the
    first part of every asset key (default ``orchestration_pkg``); ``translator`` (a
    :class:`CatalogTranslator` subclass) names the assets instead, key prefix included.

    Job, op, sensor, schedule and partition names and the resource key are today's with the
    default key prefix, else scoped by it (``media__register_manifest_job``, resource
    ``media__platform``: :mod:`orchestration_pkg.assets.naming`), so definitions of several
    key prefixes merge (``Definitions.merge``) into one code location.
    """
    if translator is not None and key_prefix is not None:
        raise ValueError("give key_prefix to the translator: CatalogTranslator(key_prefix=...)")
    translator = translator or CatalogTranslator(key_prefix or DEFAULT_KEY_PREFIX)
    if isinstance(config, AppConfig):
        app, source = config, config
    else:
        path = resolve_config_path(config)
        app = load_config(path)
        source = path if path is not None else app  # no file at all: the built-in defaults
    names = DefinitionNames(translator.key_prefix)
    folders = catalog_folders(app)
    watch = build_watch_definitions(folders, translator, names)
    used = {f.integration.name: f.integration for f in folders if f.integration is not None}
    assets: list[Any] = [build_integration_health(names)]
    assets += [build_bucket_asset(cfg, translator, names) for cfg in used.values()]
    assets += [build_folder_asset(f, translator, names) for f in folders if f.watch is None]
    assets += watch.assets
    schedule = RetrySchedule(
        max_attempts=app.retry_units.max_attempts,
        backoff_seconds=app.retry_units.backoff_seconds,
    )
    batches = {
        f.name: names.batches(f.integration.name) for f in folders if f.watch and f.integration
    }
    retry_job = build_retry_units_job(names, folders, translator)
    return Definitions(
        assets=assets,
        jobs=[
            build_register_manifest_job(app, folders, translator, names),
            retry_job,
            *watch.jobs,
        ],
        sensors=[
            *build_manifest_sensors(app, names, batches),
            build_retry_sensor(schedule, names, retry_job),
            build_sweep_sensor(app.jobs.stale_after_s, names),
            *watch.sensors,
        ],
        schedules=watch.schedules,
        resources={names.resource_key: platform_resource(source)},
    )
