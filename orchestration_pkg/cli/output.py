"""How jobs are shown: the human summary, the JSON document and the outcome of a register."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.markup import escape

from orchestration_pkg.cli.common import out
from orchestration_pkg.core.models import JobResult, JobStatus, UnitError

MAX_SHOWN_ERRORS = 50
# Stats a prefix sync or a watch batch records on its job (shown on their own line), and
# identical rows registered once (printed on their own line).
SYNC_LINE = ("listed", "events", "removed")
SYNC_STATS = (*SYNC_LINE, "duplicate_rows")

# Outcome of ``register`` (the JSON's "outcome"): exit code and stderr warning follow from it.
OK, PARTIAL, EMPTY, NOTHING, FAILED = (
    "ok",
    "partial",
    "empty_manifest",
    "nothing_registered",
    "failed",
)


def outcome(result: JobResult) -> tuple[str, str | None, int]:
    """(outcome, warning or None, exit code) of a finished register job.

    * FAILED job (strict mode, quota, crash): ``failed``, exit 1.
    * Empty manifest: ``empty_manifest``, a warning, exit 0 (nothing was asked, nothing lost).
    * Rows but none registered, some failed (``--ignore-errors``): ``nothing_registered``, exit 1.
    * Some rows failed (``--ignore-errors``): ``partial``, a warning, exit 0.
    """
    if result.status is not JobStatus.DONE:  # FAILED, or ABANDONED by a sweep meanwhile
        return FAILED, f"job {result.job_id} {result.status.value}: {failure_reason(result)}", 1
    if result.total == 0:
        return EMPTY, "manifest has no rows; nothing registered", 0
    if result.registered == 0 and result.failed:
        return NOTHING, f"all {result.failed} rows failed; nothing registered", 1
    if result.failed:
        return PARTIAL, f"{result.failed} of {result.total} rows failed; see the unit errors", 0
    return OK, None, 0


def failure_reason(result: JobResult) -> str:
    """Why a job did not finish DONE: its error (else ``failed``) and its first unit error."""
    reason = result.error or "failed"
    if result.unit_errors:
        reason += f"; first error: {unit_line(result.unit_errors[0])}"
    return reason


def job_json(result: JobResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["unit_errors"] = [job_json_unit(e) for e in result.unit_errors]
    data["heartbeat_age_s"] = heartbeat_age(result)
    return data


def heartbeat_age(result: JobResult, now: datetime | None = None) -> float | None:
    """Seconds since the job's last heartbeat (None when it never sent one)."""
    if result.heartbeat_at is None:
        return None
    now = now or datetime.now(timezone.utc)
    return round(max(0.0, (now - result.heartbeat_at).total_seconds()), 1)


def liveness(result: JobResult) -> str:
    """``owner host:pid · run … · started … · heartbeat 3 s ago``: who runs or ran the job."""
    parts = [f"owner {result.owner}" if result.owner else "owner unknown"]
    if result.run_id:
        parts.append(f"dagster run {result.run_id}")
    if result.started_at:
        parts.append(f"started {result.started_at:%Y-%m-%d %H:%M:%S}")
    age = heartbeat_age(result)
    if age is not None and not result.status.finished:
        parts.append(f"heartbeat {age:.0f} s ago")
    return " · ".join(parts)


def job_json_unit(e: UnitError) -> dict[str, Any]:
    """One unit error (or warning) in JSON: where, what, its code and whether it is transient."""
    return {"url": e.url, "error": e.error, "row": e.row, "code": e.code, "transient": e.transient}


def unit_line(e: UnitError, *, code: bool = False) -> str:
    """``where: what`` of a unit error, the URL or row said once; ``[code]`` before what."""
    row_label = f"(row {e.row})"
    where = f"row {e.row}" if e.url == row_label or not e.url else e.url
    message = e.error
    prefixes = [f"{e.url}: "] if e.url else []
    if e.row is not None:
        prefixes += [f"row {e.row}, ", f"row {e.row}: "]
    for prefix in prefixes:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return f"{where}: [{e.code}] {message}" if code else f"{where}: {message}"


def print_job(result: JobResult, *, sync_line: bool = True) -> None:
    """The human summary of a job (``sync_line``: its listed/events/removed counts too)."""
    colour = {
        "DONE": "green",
        "FAILED": "red",
        "ABANDONED": "red",
        "PENDING": "yellow",
        "RUNNING": "yellow",
    }[result.status.value]
    out.print(
        f"job [bold]{escape(result.job_id)}[/] → folder [bold]{escape(result.folder)}[/]: "
        f"[{colour}]{result.status.value}[/]",
        highlight=False,
    )
    out.print(
        f"  rows {result.total} · registered {result.registered} (created {result.created}, "
        f"updated {result.updated}, unchanged {result.unchanged}) · skipped "
        f"{result.skipped} · failed {result.failed} · bytes read {result.bytes_read}",
        markup=False,
        highlight=False,
    )
    if result.retry_of:
        out.print(f"  retry of job {result.retry_of}", markup=False, highlight=False)
    out.print(f"  {liveness(result)}", markup=False, highlight=False)
    synced = [f"{k} {result.stats[k]:g}" for k in SYNC_LINE if k in result.stats]
    if synced and sync_line:
        out.print(f"  sync: {' · '.join(synced)}", markup=False, highlight=False)
    if result.stats.get("duplicate_rows"):
        copies = int(result.stats["duplicate_rows"])
        out.print(f"  {copies} duplicate row(s) registered once", markup=False, highlight=False)
    media = {k: v for k, v in result.stats.items() if k not in SYNC_STATS}
    if media:
        totals = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in sorted(media.items()))
        out.print(f"  media: {totals}", markup=False, highlight=False)
    for w in result.warnings[:20]:
        out.print(f"  ! {unit_line(w)}", markup=False, highlight=False)
    if result.error:
        out.print(f"  {result.error}", style="red", markup=False, highlight=False)
    for e in result.unit_errors[:MAX_SHOWN_ERRORS]:
        out.print(f"  ✗ {unit_line(e, code=True)}", markup=False, highlight=False)
    if len(result.unit_errors) > MAX_SHOWN_ERRORS:
        out.print(f"  … and {len(result.unit_errors) - MAX_SHOWN_ERRORS} more (use --json)")
