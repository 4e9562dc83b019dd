"""What a registration job shows on its folder asset: numbers to plot, a preview of the
registered files, the unit errors, a short summary; the run's failure and the asset check.

Shared by every way a folder is filled from Dagster (a watch batch, a folder asset's manifest,
``register_manifest_job``). Never a secret: URLs are canonical (no query string) or redacted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    Failure,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog.sync_queries import rows_for_keys
from orchestration_pkg.core.errors import NotFoundError, UrlError
from orchestration_pkg.core.models import (
    JobResult,
    JobStatus,
    ManifestFlags,
    ManifestItem,
    RowError,
)
from orchestration_pkg.core.policy import FolderCheck
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.urls import redact_url

from .translator import CHECK_NAME

PREVIEW_ROWS = 50
FAILURE_ERRORS = 20
MAX_TABLE_ROWS = 200


def metadata_table(columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> MetadataValue:
    """A Dagster table of at most MAX_TABLE_ROWS rows (the rest stays in the catalog)."""
    schema = TableSchema(columns=[TableColumn(name, kind) for name, kind in columns])
    records = [TableRecord(row) for row in rows[:MAX_TABLE_ROWS]]
    return MetadataValue.table(records, schema=schema)


class FirstKeys:
    """An engine row source that passes a manifest through and keeps the object keys of its
    first ``limit`` valid rows: what the preview table shows, without reading it twice."""

    def __init__(self, source: Any, storage: Storage, limit: int = PREVIEW_ROWS) -> None:
        self.source, self.storage, self.limit = source, storage, limit
        self.keys: list[str] = []
        self.flags: ManifestFlags = source.flags

    def __iter__(self) -> Iterator[ManifestItem | RowError]:
        for entry in self.source:
            if isinstance(entry, ManifestItem) and len(self.keys) < self.limit:
                with contextlib.suppress(UrlError):  # a unit error of the job, not a preview row
                    self.keys.append(self.storage.parse_url(entry.url))
            yield entry


def preview_rows(
    catalog: Catalog, folder: str, integration: str, keys: list[str]
) -> list[dict[str, Any]]:
    """The catalog rows of ``keys`` (at most PREVIEW_ROWS) in ``folder``, in key order."""
    try:
        folder_id = catalog.get_folder(folder).id
    except NotFoundError:  # a failed job removes the folder it had created
        return []
    return rows_for_keys(catalog, folder_id, integration, keys[:PREVIEW_ROWS])


def _dimensions(row: dict[str, Any]) -> str:
    md = row.get("media_metadata") or {}
    parts = [f"{row['width']}×{row['height']}"] if row.get("width") else []
    parts += [f"{float(md['duration']):.1f}s"] if md.get("duration") else []
    return " ".join(parts)


def _errors_table(errors: list[Any]) -> MetadataValue:
    return metadata_table(
        [("row", "int"), ("url", "string"), ("code", "string"), ("transient", "bool")]
        + [("error", "string")],
        [
            {"row": e.row or 0, "url": redact_url(e.url), "code": e.code}
            | {"transient": e.transient, "error": e.error}
            for e in errors
        ],
    )


def _seconds(result: JobResult) -> float:
    if result.created_at and result.finished_at:
        return round((result.finished_at - result.created_at).total_seconds(), 3)
    return 0.0


def job_metadata(
    result: JobResult, rows: list[dict[str, Any]], folder_totals: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Materialization metadata of one finished job: numbers as numbers (plottable over
    time), the preview of the first registered files, the unit errors and a summary."""
    media_seconds = result.stats.get("video_seconds", 0) + result.stats.get("audio_seconds", 0)
    metadata: dict[str, Any] = {
        "job_id": result.job_id,
        "status": result.status.value,
        "integration": result.integration,
        "rows": MetadataValue.int(result.total),
        "registered": MetadataValue.int(result.registered),
        "created": MetadataValue.int(result.created),
        "updated": MetadataValue.int(result.updated),
        "unchanged": MetadataValue.int(result.unchanged),
        "skipped": MetadataValue.int(result.skipped),
        "failed": MetadataValue.int(result.failed),
        "bytes_read": MetadataValue.int(result.bytes_read),
        "requests": MetadataValue.int(result.requests),
        "seconds": MetadataValue.float(_seconds(result)),
        "media_seconds": MetadataValue.float(float(media_seconds)),
        "policy_warnings": MetadataValue.int(len(result.warnings)),
        "files_by_kind": MetadataValue.json(result.by_kind),
        "preview": metadata_table(
            [("key", "string"), ("kind", "string"), ("size", "int"), ("dimensions", "string")],
            [
                {"key": r["key"], "kind": r["media_kind"] or "", "size": r["size"] or 0}
                | {"dimensions": _dimensions(r)}
                for r in rows[:PREVIEW_ROWS]
            ],
        ),
        "summary": MetadataValue.md(_summary(result, folder_totals)),
    }
    if folder_totals is not None:
        metadata["folder_files"] = MetadataValue.int(folder_totals[0])
        metadata["folder_bytes"] = MetadataValue.int(folder_totals[1])
        metadata["dagster/row_count"] = MetadataValue.int(folder_totals[0])
    if result.unit_errors:
        metadata["unit_errors"] = _errors_table(result.unit_errors)
    if result.warnings:
        metadata["warnings"] = _errors_table(result.warnings)
    return metadata


def _summary(result: JobResult, folder_totals: tuple[int, int] | None) -> str:
    lines = [
        f"**Job** `{result.job_id}` ({result.status.value}) into folder `{result.folder}` "
        f"through `{result.integration}`",
        "",
        f"- {result.registered} registered: {result.created} created, {result.updated} "
        f"updated, {result.unchanged} unchanged",
        f"- {result.failed} failed, {result.skipped} skipped, of {result.total} rows",
        f"- {result.requests} requests, {result.bytes_read} bytes read in {_seconds(result):g} s",
    ]
    if folder_totals is not None:
        lines.append(f"- the folder now holds {folder_totals[0]} files ({folder_totals[1]} bytes)")
    return "\n".join(lines)


def folder_totals(catalog: Catalog, folder: str) -> tuple[int, int] | None:
    """(files, bytes) of the folder after the job; None when it does not exist."""
    try:
        found = catalog.get_folder(folder)
    except NotFoundError:
        return None
    return found.file_count, found.total_bytes


def registration_failure(result: JobResult) -> Failure:
    """The run's failure for a job that ended FAILED: job id and the first errors."""
    first = result.unit_errors[:FAILURE_ERRORS]
    reasons = [result.error] if result.error else []
    if first:
        e = first[0]
        url = redact_url(e.url)
        reasons.append("first error: " + (e.error if url in e.error else f"{url}: {e.error}"))
    metadata: dict[str, Any] = {
        "job_id": result.job_id,
        "status": result.status.value,
        "folder": result.folder,
        "failed": MetadataValue.int(result.failed),
    }
    if first:
        metadata["first_errors"] = _errors_table(first)
    return Failure(
        description=f"registration job {result.job_id} {result.status.value}: "
        + ("; ".join(reasons) or "see the job's unit errors"),
        metadata=metadata,
    )


def unit_errors_check(
    result: JobResult, check: FolderCheck, asset_key: AssetKey
) -> AssetCheckResult:
    """``no_unit_errors``: passes when no file failed; its severity comes from the config."""
    severity = AssetCheckSeverity.WARN if check.severity == "warn" else AssetCheckSeverity.ERROR
    metadata: dict[str, Any] = {"failed": MetadataValue.int(result.failed), "job_id": result.job_id}
    if result.unit_errors:
        e = result.unit_errors[0]
        metadata["first_error"] = f"[{e.code}] {redact_url(e.url)}: {e.error}"
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=CHECK_NAME,
        passed=result.failed == 0 and result.status is JobStatus.DONE,
        severity=severity,
        metadata=metadata,
    )
