"""Retry transient unit errors automatically: a sensor and the job it starts.

``retry_transient_units`` looks at the newest finished jobs; a job with transient unit errors
(throttled, server_error, network, timeout) that no later job retried yet, whose retry chain
(``retry_of`` links) is shorter than ``max_attempts`` and whose backoff has passed
(``backoff_seconds * 2**attempt`` after it finished), gets one ``retry_units_job`` run that
re-attempts only its transient units. Run keys name the retried job, so each is requested once.

When the job's folder is declared (it has a folder asset), the retry run reports on it like
any registration run: a materialization with the same metadata and the ``no_unit_errors``
check (of the retried batch's partition for a watched folder, see :mod:`.retry_report`). The
run fails when the retry job failed, or when units still fail and the folder does not
tolerate errors (``ignore_errors`` of the folder, of its ``watch:`` block, or for an ad-hoc
folder of the original job).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from dagster import (
    Config,
    DefaultSensorStatus,
    JobDefinition,
    OpExecutionContext,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    sensor,
)
from pydantic import Field

from orchestration_pkg.assets.naming import DEFAULT_NAMES, DefinitionNames
from orchestration_pkg.assets.translator import CatalogFolder, CatalogTranslator
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.models import JobResult
from orchestration_pkg.core.retry_units import plan_retry, retry_job
from orchestration_pkg.sensors.retry_report import report_retry

RETRY_JOB = DEFAULT_NAMES.retry_job
SENSOR_NAME = DEFAULT_NAMES.retry_sensor


@dataclass(frozen=True)
class RetrySchedule:
    """How often and when the sensor retries: attempts per original job, backoff, look-back."""

    max_attempts: int = 3
    backoff_seconds: float = 60.0
    lookback_jobs: int = 200


class RetryRunConfig(Config):
    """Run config of a retry run."""

    job_id: str = Field(description="the job whose failed units are re-attempted")
    only_transient: bool = Field(default=True, description="skip units with permanent errors")


def attempt_of(job: JobResult, by_id: dict[str, JobResult]) -> int:
    """How many retries led to ``job`` (0: an original job), following ``retry_of`` links; a
    link to a job beyond the look-back counts once more."""
    attempt, seen = 0, {job.job_id}
    while job.retry_of and job.retry_of not in seen:
        attempt += 1
        seen.add(job.retry_of)
        if job.retry_of not in by_id:
            break
        job = by_id[job.retry_of]
    return attempt


def due_retries(
    catalog: Catalog, schedule: RetrySchedule, now: datetime | None = None
) -> list[JobResult]:
    """Finished jobs with transient unit errors whose retry is due, oldest first."""
    now = now or datetime.now(timezone.utc)
    recent = catalog.list_jobs(limit=schedule.lookback_jobs)
    by_id = {j.job_id: j for j in recent}
    retried = {j.retry_of for j in recent if j.retry_of}
    due: list[JobResult] = []
    for candidate in reversed(recent):
        if not candidate.status.finished or not candidate.failed:
            continue
        if candidate.job_id in retried or candidate.finished_at is None:
            continue
        attempt = attempt_of(candidate, by_id)
        if attempt >= schedule.max_attempts:
            continue
        wait = timedelta(seconds=schedule.backoff_seconds * (2**attempt))
        if candidate.finished_at + wait > now:
            continue
        if any(u.transient for u in catalog.failed_units(candidate.job_id)):
            due.append(candidate)
    return due


def build_retry_units_job(
    names: DefinitionNames = DEFAULT_NAMES,
    folders: list[CatalogFolder] | None = None,
    translator: CatalogTranslator | None = None,
) -> JobDefinition:
    """``retry_units_job``; ``folders`` (the declared ones) and ``translator`` name the folder
    assets a retry reports on."""
    declared = {f.name: f for f in folders or []}
    naming = translator or CatalogTranslator(names.key_prefix)

    @op(
        name=names.retry_op,
        description="Re-attempt the failed units of one registration job (a new job, retry_of).",
        required_resource_keys={names.resource_key},
    )
    def retry_failed_units(context: OpExecutionContext, config: RetryRunConfig) -> dict[str, Any]:
        platform = names.platform(context)
        catalog = platform.catalog()
        plan = plan_retry(catalog, config.job_id, only_transient=config.only_transient)
        if not plan.items:
            context.log.info("job %s: nothing to retry", config.job_id)
            return {"job_id": None, "retry_of": config.job_id}
        storage = platform.storage(plan.job.integration)
        result = retry_job(
            platform.app_config(),
            plan,
            ignore_errors=True,
            catalog=catalog,
            storage=storage,
            run_id=context.run_id,
        )
        context.log.info(
            "retry %s of job %s: %d registered, %d still failing",
            result.job_id,
            config.job_id,
            result.registered,
            result.failed,
        )
        report_retry(context, names, naming, declared.get(result.folder), plan, result, platform)
        return {"job_id": result.job_id, "retry_of": config.job_id, "failed": result.failed}

    @job(name=names.retry_job, description="Re-attempt the failed units of one registration job.")
    def _retry_units_job() -> None:
        retry_failed_units()

    return _retry_units_job


retry_units_job = build_retry_units_job()
"""The job under the default names, reporting on no folder asset (``build_definitions``
builds the one that knows the declared folders)."""


def build_retry_sensor(
    schedule: RetrySchedule | None = None,
    names: DefinitionNames = DEFAULT_NAMES,
    retry_units: JobDefinition | None = None,
) -> SensorDefinition:
    """The ``retry_transient_units`` sensor (stopped by default: turn it on in the UI)."""
    plan = schedule or RetrySchedule()

    @sensor(
        name=names.retry_sensor,
        job=retry_units or build_retry_units_job(names),
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"Retries jobs with transient unit errors: up to {plan.max_attempts} attempts, "
            f"{plan.backoff_seconds:g} s backoff doubling per attempt"
        ),
        required_resource_keys={names.resource_key},
    )
    def _retry_sensor(context: SensorEvaluationContext, **_resources: Any):
        due = due_retries(names.platform(context).catalog(), plan)
        if not due:
            return SensorResult(skip_reason=SkipReason("no transient unit errors due for retry"))
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=f"retry:{j.job_id}",
                    run_config={"ops": {names.retry_op: {"config": {"job_id": j.job_id}}}},
                    # the integration tag puts retries under the run queue's limit too
                    tags={"orchestration_pkg/retry_of": j.job_id}
                    | ({"orchestration_pkg/integration": j.integration} if j.integration else {}),
                )
                for j in due
            ]
        )

    return _retry_sensor
