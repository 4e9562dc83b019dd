"""Retry the failed units of a job: their rows come back from the catalog, not the manifest.

``finish_job`` stores, with every unit error, a compact copy of its manifest row (canonical
URL, title, external id, client metadata, given metadata; see
:func:`~orchestration_pkg.core.unit_errors.retry_item`). :func:`retry_job` rebuilds
``ManifestItem`` rows from those copies and runs them through the same
:class:`~orchestration_pkg.core.engine.RegistrationEngine`, into the job's folder and through its
integration, as a new job with ``retry_of`` set. Units that cannot be retried (a malformed row,
a URL outside the integration, a signed direct URL whose signature was never stored, a row
recorded before codes existed) are counted as skipped, each with its reason as a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import AppConfig
from orchestration_pkg.core.engine import Progress, RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.manifest import Manifest
from orchestration_pkg.core.models import (
    JobResult,
    JobStatus,
    ManifestFlags,
    ManifestItem,
    UnitError,
)
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.unit_errors import manifest_item, not_retryable


@dataclass
class RetryPlan:
    """What a retry of job ``job`` will do: the rows to re-attempt and the units it cannot."""

    job: JobResult
    items: list[ManifestItem] = field(default_factory=list)  # in row order
    skipped: list[UnitError] = field(default_factory=list)  # error = why it is not retried

    @property
    def unrecorded(self) -> int:
        """Failed units of the job beyond those its catalog rows list (the report cap)."""
        return max(0, self.job.failed - len(self.items) - len(self.skipped))


def plan_retry(catalog: Catalog, job_id: str, *, only_transient: bool = False) -> RetryPlan:
    """The retry plan of ``job_id``; ``NotFoundError`` if unknown, an error if still running.

    ``only_transient`` (the Dagster retry sensor) skips units whose error is permanent.
    """
    catalog.sweep_stale()  # a job whose process died is ABANDONED now, not "still running"
    job = catalog.get_job(job_id)
    if not job.status.finished:
        raise OrchestrationError(
            f"job {job_id} is still {job.status.value} (owner {job.owner or 'unknown'}): "
            "retry it once it has finished"
        )
    plan = RetryPlan(job=job)
    for unit in catalog.failed_units(job_id):
        reason = not_retryable(unit.code, unit.item)
        if reason is None and only_transient and not unit.transient:
            reason = f"a permanent error ({unit.code}) is not retried automatically"
        if reason is None and unit.item is not None:
            try:
                plan.items.append(manifest_item(unit.item))
                continue
            except ValueError:
                reason = "its recorded row no longer reads as a manifest row"
        plan.skipped.append(unit.model_copy(update={"error": f"not retried: {reason}"}))
    return plan


def retry_job(
    config: AppConfig,
    plan: RetryPlan,
    *,
    ignore_errors: bool | None = None,
    catalog: Catalog | None = None,
    storage: Storage | None = None,
    progress: Callable[[Progress], None] | None = None,
    run_id: str | None = None,
) -> JobResult:
    """Run ``plan`` as a new job (``retry_of`` = the planned job) and return it, finished.

    Same folder, integration, fetch mode, concurrency, metadata verification and (unless
    ``ignore_errors`` is given) strictness as the original job; the policies (requirements,
    quotas) are today's config for that folder.
    """
    from orchestration_pkg.core.registration import build_storage

    job = plan.job
    integration_cfg = config.integration(job.integration)
    storage = storage or build_storage(integration_cfg)
    requirements, quotas = config.policy_for(integration_cfg, job.folder)
    own_catalog = catalog is None
    catalog = catalog or Catalog.for_config(config)
    try:
        ran = catalog.job_options(job.job_id)
        options = replace(
            RegistrationOptions(),
            ignore_errors=ran.get("ignore_errors", False)
            if ignore_errors is None
            else ignore_errors,
            fetch=ran.get("fetch", "auto"),
            concurrency=int(ran.get("concurrency", 32)),
            verify_metadata=bool(ran.get("verify", False)),
            requirements=requirements,
            quotas=quotas,
            retry_of=job.job_id,
            run_id=run_id,
        )
        name = f"retry of job {job.job_id}"
        rows = Manifest(
            name=name,
            format="catalog",
            shape="retry",
            flags=ManifestFlags(),
            rows=iter(plan.items),
            close=lambda: None,
        )
        engine = RegistrationEngine(catalog, storage)
        result = engine.register(rows, job.folder, options, manifest_name=name, progress=progress)
        if plan.skipped and result.status is not JobStatus.ABANDONED:  # in its record too
            result.total += len(plan.skipped)
            result.skipped += len(plan.skipped)
            result.warnings = [*plan.skipped, *result.warnings]
            catalog.finish_job(result)
        return result
    finally:
        if own_catalog:
            catalog.dispose()
