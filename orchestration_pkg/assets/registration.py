"""Software-defined assets: the manifest, the registered folder, and the upload results."""

from collections import Counter
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from pydantic import Field

from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import JobStatus, RowError
from orchestration_pkg.core.registration import open_manifest, register_manifest
from orchestration_pkg.core.urls import redact_url
from orchestration_pkg.resources.platform import PlatformResource

GROUP = "registration"
MAX_TABLE_ROWS = 200
FAILURE_ERRORS = 20


class RegistrationConfig(Config):
    """Run config of a registration: which manifest goes into which folder."""

    manifest: str = Field(description="local path, or object URL (s3://bucket/key) of the manifest")
    folder: str = Field(description="catalog folder to register into (created if missing)")
    integration: str | None = Field(default=None, description="integration name; default if unset")
    ignore_errors: bool = Field(default=False, description="register good files, list bad ones")
    fetch: str = Field(default="auto", description="auto | head | none")
    verify_metadata: bool = Field(
        default=False, description="probe every object and compare with the manifest"
    )
    folder_description: str | None = None


@asset(group_name=GROUP, description="A manifest of objects to register, checked row by row.")
def manifest(
    context: AssetExecutionContext, config: RegistrationConfig, platform: PlatformResource
) -> Output[dict[str, Any]]:
    """Stream the manifest once: count rows per kind and list malformed rows."""
    storage = platform.storage(config.integration)
    kinds: Counter[str] = Counter()
    bad: list[RowError] = []
    with open_manifest(config.manifest, storage) as parsed:
        for entry in parsed:
            if isinstance(entry, RowError):
                bad.append(entry)
            else:
                kinds[entry.media_kind.value if entry.media_kind else "unknown"] += 1
        shape, fmt = parsed.shape, parsed.format
    request = config.model_dump() | {"integration": storage.name}
    metadata = {
        "source": redact_url(config.manifest),
        "format": fmt,
        "shape": shape,
        "rows": sum(kinds.values()) + len(bad),
        "valid_rows": sum(kinds.values()),
        "malformed_rows": len(bad),
        "rows_by_kind": MetadataValue.json(dict(kinds)),
    }
    if bad:
        metadata["malformed"] = metadata_table(
            [("row", "int"), ("field", "string"), ("reason", "string")],
            [{"row": e.row, "field": e.field, "reason": e.reason} for e in bad],
        )
    context.log.info("manifest %s: %d rows", metadata["source"], metadata["rows"])
    return Output(request, metadata=metadata)


@asset(group_name=GROUP, description="Catalog folder with the manifest's objects registered.")
def registered_folder(
    context: AssetExecutionContext, manifest: dict[str, Any], platform: PlatformResource
) -> Output[dict[str, Any]]:
    """Run the registration engine (batches, probing, retries) for the manifest."""
    opts = RegistrationOptions(
        ignore_errors=manifest["ignore_errors"],
        fetch=manifest["fetch"],
        verify_metadata=manifest.get("verify_metadata", False),
        folder_description=manifest.get("folder_description"),
        run_id=context.run.run_id,
    )
    result = register_manifest(
        platform.app_config(),
        manifest["manifest"],
        manifest["folder"],
        options=opts,
        catalog=platform.catalog(),
        storage=platform.storage(manifest["integration"]),
    )
    try:
        folder = platform.catalog().get_folder(result.folder)
        folder_files, folder_bytes = folder.file_count, folder.total_bytes
    except NotFoundError:  # a failed job removes the folder it had created
        folder_files = folder_bytes = 0
    context.log.info(
        "job %s %s: %d registered, %d failed",
        result.job_id,
        result.status.value,
        result.registered,
        result.failed,
    )
    if result.status is not JobStatus.DONE:
        # A run whose work failed must fail: the job id and the first errors go with it.
        first = result.unit_errors[:FAILURE_ERRORS]
        reasons = [result.error] if result.error else []
        if first:
            e = first[0]
            reasons.append(
                "first error: " + (e.error if e.url in e.error else f"{e.url}: {e.error}")
            )
        reason = "; ".join(reasons) or "see the job's unit errors"
        raise Failure(
            description=f"registration job {result.job_id} {result.status.value}: {reason}",
            metadata={
                "job_id": result.job_id,
                "status": result.status.value,
                "folder": result.folder,
                "failed": result.failed,
                "first_errors": metadata_table(
                    [("row", "int"), ("url", "string"), ("error", "string")],
                    [{"row": e.row or 0, "url": e.url, "error": e.error} for e in first],
                ),
            },
        )
    return Output(
        {"job_id": result.job_id, "folder": result.folder, "status": result.status.value},
        metadata={
            "job_id": result.job_id,
            "status": result.status.value,
            "folder": result.folder,
            "folder_files": folder_files,
            "folder_bytes": folder_bytes,
        },
    )


@asset(
    group_name=GROUP,
    description="Outcome of the upload job: counts, bytes read, and every unit error.",
    check_specs=[
        AssetCheckSpec(
            "no_unit_errors",
            asset="upload_results",
            description="fails when any file could not be registered",
        )
    ],
)
def upload_results(
    registered_folder: dict[str, Any], platform: PlatformResource
) -> MaterializeResult:
    """Publish the job's counts and failed URLs; the asset check fails on unit errors."""
    job = platform.catalog().get_job(registered_folder["job_id"])
    metadata: dict[str, Any] = {
        "job_id": job.job_id,
        "status": job.status.value,
        "total_rows": job.total,
        "registered": job.registered,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "skipped": job.skipped,
        "failed": job.failed,
        "bytes_read": MetadataValue.int(job.bytes_read),
        "requests": job.requests,
        "files_by_kind": MetadataValue.json(job.by_kind),
        "media_totals": MetadataValue.json(job.stats),
        "total_duration_seconds": float(
            job.stats.get("video_seconds", 0) + job.stats.get("audio_seconds", 0)
        ),
        "policy_warnings": len(job.warnings),
    }
    if job.error:
        metadata["error"] = job.error
    if job.warnings:
        metadata["warnings"] = metadata_table(
            [("row", "int"), ("url", "string"), ("warning", "string")],
            [{"row": w.row or 0, "url": w.url, "warning": w.error} for w in job.warnings],
        )
    if job.unit_errors:
        metadata["failed_urls"] = metadata_table(
            [("row", "int"), ("url", "string"), ("code", "string"), ("transient", "bool")]
            + [("error", "string")],
            [
                {"row": e.row or 0, "url": e.url, "code": e.code, "transient": e.transient}
                | {"error": e.error}
                for e in job.unit_errors
            ],
        )
    passed = job.failed == 0 and job.status is JobStatus.DONE
    check = AssetCheckResult(
        check_name="no_unit_errors",
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={"failed": job.failed, "status": job.status.value},
    )
    return MaterializeResult(metadata=metadata, check_results=[check])


def metadata_table(columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> MetadataValue:
    """A Dagster table of at most MAX_TABLE_ROWS rows (the rest stays in the catalog)."""
    schema = TableSchema(columns=[TableColumn(name, kind) for name, kind in columns])
    records = [TableRecord(row) for row in rows[:MAX_TABLE_ROWS]]
    return MetadataValue.table(records, schema=schema)
