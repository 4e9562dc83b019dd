"""``sweep_abandoned_jobs``: give up jobs whose process died, also when no command runs.

Every command that writes sweeps first; this sensor sweeps on its own clock too, so a crashed
run's job turns ABANDONED (and its staged rows go) within about ``jobs.stale_after_s`` even
when nothing else happens. It never starts a run: its skip reason says what it did.
"""

from typing import Any

from dagster import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from orchestration_pkg.assets.naming import DEFAULT_NAMES, DefinitionNames

SENSOR_NAME = "sweep_abandoned_jobs"


def build_sweep_sensor(
    stale_after_s: float = 120.0, names: DefinitionNames = DEFAULT_NAMES
) -> SensorDefinition:
    """The sweep sensor, evaluated every ``stale_after_s / 2`` seconds (10 … 300)."""
    interval = int(min(300, max(10, stale_after_s / 2)))

    @sensor(
        name=names.sweep_sensor,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            f"Marks jobs without a heartbeat for {stale_after_s:g} s ABANDONED "
            "(jobs.stale_after_s) and discards their staged rows"
        ),
        required_resource_keys={names.resource_key},
    )
    def _sweep(context: SensorEvaluationContext, **_resources: Any) -> SkipReason:
        swept = names.platform(context).catalog().sweep_stale()
        if not swept:
            return SkipReason("no stale jobs")
        context.log.warning("marked %d job(s) ABANDONED: %s", len(swept), ", ".join(swept))
        return SkipReason(f"marked {len(swept)} job(s) ABANDONED: {', '.join(swept)}")

    return _sweep
