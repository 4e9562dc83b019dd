"""One job's life in the catalog, as the engine drives it: :class:`JobRecord`.

PENDING (recorded, with its owner) → RUNNING (a heartbeat thread keeps it alive) → DONE or
FAILED, or ABANDONED when a sweep gave it up meanwhile. A strict job's batches were staged; it
publishes them in one short transaction before it concludes. Whatever stops a job (a bad
file, a broken manifest, a busy catalog, SIGTERM, a bug), its record says so and its stored
counts are what readers can see in the folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from orchestration_pkg.core.catalog import Catalog, FileWriter, JobGoneError
from orchestration_pkg.core.catalog.lifecycle import owner_tag
from orchestration_pkg.core.engine_plan import Tally
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.interrupts import JobInterrupted, deferred, signal_reason
from orchestration_pkg.core.models import JobResult, JobStatus, ManifestFlags
from orchestration_pkg.core.quota import QuotaGuard

if TYPE_CHECKING:
    from orchestration_pkg.core.engine import RegistrationOptions

log = logging.getLogger(__name__)

# A job's final record waits this many times busy_timeout_s for a busy catalog: a job that
# cannot even record its end is left RUNNING, and the sweep gives it up later.
FINISH_BUDGET_FACTOR = 3
_WRITTEN = ("registered", "created", "updated", "unchanged", "skipped")


@dataclass
class JobRun:
    """One running job: its ids, the manifest's flags and how many batches it has written."""

    job_id: str
    folder_id: int
    flags: ManifestFlags
    batches: int = 0


class JobRecord:
    """The catalog record of one job, from start to finish."""

    def __init__(
        self, catalog: Catalog, integration: str, folder: str, opts: RegistrationOptions
    ) -> None:
        self.catalog = catalog
        self.folder = folder
        self.opts = opts
        self.result = JobResult(
            job_id="", folder=folder, integration=integration, status=JobStatus.PENDING
        )
        self.tally = Tally(self.result, quota=QuotaGuard(opts.quotas) if opts.quotas else None)

    @property
    def started(self) -> bool:
        return bool(self.result.job_id)

    def start(self, manifest_name: str, flags: ManifestFlags) -> JobRun:
        """Record the job PENDING (creating a missing folder), then mark it RUNNING."""
        opts, result = self.opts, self.result
        with deferred():  # a signal waits until the job row exists, then fails it
            target, job_id = self.catalog.start_job(
                self.folder,
                result.integration,
                manifest_name,
                ignore_errors=opts.ignore_errors,
                options={
                    "fetch": opts.fetch,
                    "concurrency": opts.concurrency,
                    "verify": opts.verify_metadata,
                },
                retry_of=opts.retry_of,
                description=opts.folder_description,
                client_metadata=opts.folder_metadata,
                owner=owner_tag(),
                run_id=opts.run_id or os.environ.get("DAGSTER_RUN_ID"),
            )
            result.job_id, result.retry_of = job_id, opts.retry_of
            result.created_at = datetime.now(timezone.utc)
        self.catalog.mark_running(job_id)
        result.status = JobStatus.RUNNING
        return JobRun(job_id, target.id, flags)

    def stopped(self, exc: OrchestrationError) -> None:
        """A job-level problem (broken manifest, busy catalog, swept): the job fails."""
        self.tally.aborted, self.result.error = True, str(exc)
        if isinstance(exc, JobGoneError):  # the sweep's record stands
            self.result.status = JobStatus.ABANDONED

    def publish(self, run: JobRun) -> None:
        """A strict job's staged batches into the folder, in one transaction (quota-checked)."""
        quota = self.tally.quota

        def check(writer: FileWriter) -> str | None:
            breach = quota.check_folder(*writer.usage()) if quota else None
            return f"{breach}: nothing was registered" if breach else None

        flags = run.flags
        published = self.catalog.publish(
            run.job_id,
            run.folder_id,
            skip_existing=flags.skip_duplicate_urls,
            update_client_metadata=flags.upsert_metadata or not flags.skip_duplicate_urls,
            check=check if quota else None,
        )
        if isinstance(published, str):
            self.tally.aborted, self.result.error = True, published
        else:
            self.tally.add_counts(published)

    def conclude(self, finalize: Callable[[JobResult], None] | None) -> None:
        """DONE or FAILED from what happened; ``finalize`` runs for a DONE job."""
        result, tally, opts = self.result, self.tally, self.opts
        if tally.aborted:
            if result.status is not JobStatus.ABANDONED:
                result.status = JobStatus.FAILED
            if opts.atomic:  # nothing was published: the stored counts say so
                tally.clear_written()
                result.error = result.error or (
                    f"{result.failed} file(s) failed and ignore_errors is off: "
                    "nothing was registered"
                )
        else:
            result.status = JobStatus.DONE
            # an existing folder takes the given description/metadata only when the job succeeds
            self.catalog.ensure_folder(self.folder, opts.folder_description, opts.folder_metadata)
        result.by_kind = dict(tally.kinds)
        result.stats = {k: round(v, 3) for k, v in tally.stats.items()}
        result.unit_errors.sort(key=lambda e: (e.row is None, e.row or 0))
        if finalize is not None and result.status is JobStatus.DONE:
            try:
                finalize(result)
            except OrchestrationError as exc:
                result.status, result.error = JobStatus.FAILED, str(exc)

    def abort(self, exc: BaseException) -> None:
        """Record the job FAILED after an interrupt, a crash or a bug (the caller re-raises)."""
        result = self.result
        if isinstance(exc, JobInterrupted):
            exc.job_id = result.job_id
        result.status = JobStatus.FAILED
        known = str(exc) if isinstance(exc, OrchestrationError) else None  # e.g. catalog busy
        result.error = signal_reason(exc) or known or f"aborted: {type(exc).__name__}"
        try:
            # The job's row counts what its committed transactions wrote (each batch write and
            # the publish update it in the same transaction): exactly what readers can see.
            stored = self.catalog.job_counts(result.job_id)
        except Exception:  # the catalog is gone too: count what this process saw committed
            stored = {name: getattr(result, name) for name in _WRITTEN}
        for name in _WRITTEN:
            setattr(result, name, stored[name])
        if not result.registered:
            self.tally.clear_written()
        try:
            self.finish()
        except Exception as failure:  # left RUNNING: the sweep gives it up later
            log.warning("job %s: could not record its end: %s", result.job_id, failure)

    def finish(self) -> JobResult:
        """Store the outcome (waiting longer than a batch would for a busy catalog)."""
        result = self.result
        result.finished_at = datetime.now(timezone.utc)
        with deferred():
            try:
                budget = FINISH_BUDGET_FACTOR * self.catalog.busy_timeout_s
                self.catalog.finish_job(result, budget=budget)
            except JobGoneError as exc:
                result.status, result.error = JobStatus.ABANDONED, str(exc)
        return result
