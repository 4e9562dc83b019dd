"""How an op job (``register_manifest_job``, ``retry_units_job``) reports a finished
registration job on a folder asset: a materialization (of a batch partition when the folder
is watched) and, for a declared folder, its ``no_unit_errors`` check evaluation."""

from __future__ import annotations

import hashlib
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    OpExecutionContext,
)

from orchestration_pkg.core.models import JobResult

from .folder_results import unit_errors_check
from .translator import CatalogFolder

PARTITION_TAG = "dagster/partition"
PARTITION_OWN_TAG = "orchestration_pkg/partition"  # an op job's batch (manifest sensor runs)


def manifest_partition(manifest: str, version: str) -> str:
    """The batch partition of one manifest registration: ``mf-<12 hex>`` of the manifest and
    its version (the sensor's object ETag; a launch by hand: its run id)."""
    return "mf-" + hashlib.sha1(f"{manifest}\0{version}".encode()).hexdigest()[:12]


def ensure_partition(instance: DagsterInstance, partitions_name: str, key: str) -> None:
    """Add the dynamic partition ``key`` unless it exists (a sensor added it already)."""
    if not instance.has_dynamic_partition(partitions_name, key):
        instance.add_dynamic_partitions(partitions_name, [key])


def partition_of_run(instance: DagsterInstance, run_id: str | None, key: AssetKey) -> str | None:
    """The partition of ``key`` a Dagster run worked on: its partition tag (a batch run, also
    a failed one; a manifest sensor's run), else the partition it reported a materialization
    of (a manifest launched by hand, a retry)."""
    run = instance.get_run_by_id(run_id) if run_id else None
    if run is None:
        return None
    for tag in (PARTITION_TAG, PARTITION_OWN_TAG):
        if run.tags.get(tag):
            return run.tags[tag]
    records = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        mat = record.asset_materialization
        if mat is not None and mat.asset_key == key and mat.partition:
            return mat.partition
    return None


def report_job(
    context: OpExecutionContext,
    key: AssetKey,
    folder: CatalogFolder,
    result: JobResult,
    metadata: dict[str, Any],
    partition: str | None = None,
) -> None:
    """Log the job as a materialization of ``key`` (and ``partition``), plus the folder's
    ``no_unit_errors`` evaluation when the folder is declared."""
    context.log_event(AssetMaterialization(asset_key=key, partition=partition, metadata=metadata))
    if folder.declared:
        report_check(context, key, folder, result, partition)


def report_check(
    context: OpExecutionContext,
    key: AssetKey,
    folder: CatalogFolder,
    result: JobResult,
    partition: str | None = None,
) -> None:
    """Log the folder's ``no_unit_errors`` evaluation of ``result`` (severity from config)."""
    check = unit_errors_check(result, folder.policy.check, key)
    context.log_event(
        AssetCheckEvaluation(
            asset_key=key,
            check_name=check.check_name or "",
            passed=check.passed,
            severity=check.severity,
            metadata=check.metadata,
            partition=partition,
        )
    )
