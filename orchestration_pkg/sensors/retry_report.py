"""What a ``retry_units_job`` run shows: on a declared folder's asset, the retry as a
materialization (same metadata as every registration run) and its ``no_unit_errors`` check;
and a failed run when the retry's work failed. An ad-hoc folder gets no asset event."""

from __future__ import annotations

import contextlib
from typing import Any

from dagster import Failure, OpExecutionContext

from orchestration_pkg.assets.folder_results import (
    PREVIEW_ROWS,
    folder_totals,
    job_metadata,
    preview_rows,
    registration_failure,
)
from orchestration_pkg.assets.naming import DefinitionNames
from orchestration_pkg.assets.reporting import (
    ensure_partition,
    partition_of_run,
    report_check,
    report_job,
)
from orchestration_pkg.assets.translator import CatalogFolder, CatalogTranslator
from orchestration_pkg.core.errors import UrlError
from orchestration_pkg.core.models import JobResult, JobStatus
from orchestration_pkg.core.retry_units import RetryPlan
from orchestration_pkg.resources.platform import PlatformResource


def tolerates_errors(folder: CatalogFolder | None, original: dict[str, Any]) -> bool:
    """Whether failed units leave the run green: the folder's ``ignore_errors`` (its
    ``watch:`` block's for a watched folder), or the original job's for an ad-hoc folder."""
    if folder is None:
        return bool(original.get("ignore_errors", False))
    watch = folder.watch
    return watch.ignore_errors if watch is not None else folder.policy.ignore_errors


def report_retry(
    context: OpExecutionContext,
    names: DefinitionNames,
    translator: CatalogTranslator,
    folder: CatalogFolder | None,
    plan: RetryPlan,
    result: JobResult,
    platform: PlatformResource,
) -> None:
    """Report the retry ``result`` of ``plan`` on ``folder``'s asset (when declared), then
    raise ``Failure`` when it failed, or left failed units the folder does not tolerate."""
    catalog = platform.catalog()
    if folder is not None:
        key = translator.get_asset_spec(folder).key
        partition = None
        if folder.watch is not None and folder.integration is not None:
            found = partition_of_run(context.instance, plan.job.run_id, key)
            partition = found or f"rt-{result.job_id[:12]}"
            ensure_partition(context.instance, names.batches(folder.integration.name), partition)
        if result.status is JobStatus.DONE:
            storage = platform.storage(result.integration)
            keys: list[str] = []
            for item in plan.items[:PREVIEW_ROWS]:
                with contextlib.suppress(UrlError):
                    keys.append(storage.parse_url(item.url))
            rows = preview_rows(catalog, folder.name, result.integration, keys)
            metadata = job_metadata(result, rows, folder_totals(catalog, folder.name))
            metadata["retry_of"] = plan.job.job_id
            report_job(context, key, folder, result, metadata, partition)
        else:  # nothing changed: only the check says the retry failed
            report_check(context, key, folder, result, partition)
    if result.status is not JobStatus.DONE:
        raise registration_failure(result)
    if result.failed and not tolerates_errors(folder, catalog.job_options(plan.job.job_id)):
        failure = registration_failure(result)
        raise Failure(
            description=f"retry of job {plan.job.job_id}: {result.failed} unit(s) still failing "
            f"({failure.description})",
            metadata=failure.metadata,
        )
