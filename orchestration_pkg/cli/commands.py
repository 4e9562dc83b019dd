"""register, status, jobs, folders, files, presign."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import typer
from rich.markup import escape
from rich.progress import TextColumn
from rich.table import Table

from orchestration_pkg.cli.common import (
    app,
    catalog,
    check_folder,
    config,
    err,
    fail,
    guard,
    out,
    print_json,
    progress_bar,
    warn,
    warn_if_no_config,
)
from orchestration_pkg.cli.options import (
    AsJson,
    Concurrency,
    IgnoreErrors,
    check_fetch,
    registration_options,
)
from orchestration_pkg.cli.output import (
    heartbeat_age,
    job_json,
    job_json_unit,
    outcome,
    print_job,
    unit_line,
)
from orchestration_pkg.core.models import JobResult, JobStatus
from orchestration_pkg.core.storage import MAX_SIGN_TTL, MIN_SIGN_TTL, clamp_ttl


@app.command()
def register(
    manifest: str = typer.Argument(..., help="manifest path, or s3://bucket/key of a manifest"),
    folder: str = typer.Option(..., "--folder", "-f", help="catalog folder (created if missing)"),
    integration: str | None = typer.Option(
        None, "--integration", "-i", help="integration name (default: the default integration)"
    ),
    ignore_errors: IgnoreErrors = False,
    fetch: str = typer.Option(
        "auto",
        help="auto: HEAD, or ranged reads of the bytes holding the media metadata | head: "
        "HEAD only | none: trust the manifest, no storage call",
    ),
    concurrency: Concurrency = 32,
    verify_metadata: bool = typer.Option(
        False, "--verify-metadata", help="probe every object and compare with the manifest"
    ),
    description: str | None = typer.Option(None, help="folder description"),
    as_json: AsJson = False,
) -> None:
    """Register the objects listed in MANIFEST into FOLDER.

    Exit 0 when done (a warning on stderr if some rows failed or the manifest is empty),
    1 when the job failed or no row at all could be registered, 2 for usage/config errors.
    """
    check_fetch(fetch)
    check_folder(folder)
    # The engine, providers and SQLAlchemy load only once the arguments are known to be good.
    from orchestration_pkg.core.engine import Progress as JobProgress
    from orchestration_pkg.core.registration import build_storage, register_manifest

    opts = registration_options(
        fetch,
        ignore_errors,
        concurrency,
        folder_description=description,
        verify_metadata=verify_metadata,
    )

    def run() -> JobResult:
        cfg = config()
        storage = build_storage(cfg.integration(integration))
        warn_if_no_config(cfg)
        if as_json or not err.is_terminal:
            return register_manifest(cfg, manifest, folder, options=opts, storage=storage)
        with progress_bar(
            "registering",
            TextColumn("{task.completed} rows · {task.fields[ok]} ok · {task.fields[bad]} failed"),
        ) as bar:
            task = bar.add_task("register", total=None, ok=0, bad=0)

            def on_progress(p: JobProgress) -> None:
                bar.update(task, completed=p.rows, ok=p.registered, bad=p.failed)

            return register_manifest(
                cfg, manifest, folder, options=opts, storage=storage, progress=on_progress
            )

    _report(guard(run), as_json)


def _report(result: JobResult, as_json: bool) -> None:
    """Print a register (or retry) job; its outcome decides the warning and the exit code."""
    kind, warning, code = outcome(result)
    if as_json:
        print_json({**job_json(result), "outcome": kind})
    else:
        print_job(result)
    if code:
        fail(warning or f"job {result.job_id} {result.status.value}", code=code)
    if warning:
        warn(warning)


@app.command()
def retry(
    job_id: str,
    ignore_errors: bool | None = typer.Option(
        None,
        "--ignore-errors/--strict",
        help="register what now works and list what still fails / all or nothing "
        "(default: as the original job)",
    ),
    as_json: AsJson = False,
) -> None:
    """Re-attempt only the failed units of JOB_ID, from their rows kept in the catalog.

    Same folder, integration and output as ``register``; exit codes as ``register``. A job
    without failed units: a warning, exit 0. Units that cannot be retried (a malformed row, a
    URL outside the integration, a signed direct URL) are counted as skipped, with the reason.
    """
    from orchestration_pkg.core.retry_units import plan_retry, retry_job

    def plan() -> Any:
        cfg = config()
        warn_if_no_config(cfg)
        cat = catalog()
        try:
            return cfg, plan_retry(cat, job_id)
        finally:
            cat.dispose()

    cfg, todo = guard(plan)
    if todo.job.status is JobStatus.ABANDONED:
        warn(
            f"job {job_id} was ABANDONED (its process died): only units it had recorded are "
            "retried; run its command again for the rest (re-runs are idempotent)"
        )
    elif todo.job.status is JobStatus.FAILED and todo.job.total > todo.job.failed:
        warn(
            f"job {job_id} FAILED as a whole: its other rows were rolled back and are not "
            "retried; register its manifest again for those"
        )
    if todo.unrecorded:
        recorded = todo.job.failed - todo.unrecorded
        warn(f"only {recorded} of {todo.job.failed} failed units were recorded; retrying those")
    if not todo.items:
        message = f"nothing to retry: job {job_id} has no failed units"
        if todo.skipped:
            message = (
                f"nothing to retry: none of the {len(todo.skipped)} failed units of job "
                f"{job_id} can be retried"
            )
        if as_json:
            skipped = [job_json_unit(u) for u in todo.skipped]
            print_json(
                {
                    "job_id": None,
                    "retry_of": job_id,
                    "outcome": "nothing_to_retry",
                    "not_retried": skipped,
                }
            )
        else:
            for u in todo.skipped:
                out.print(f"  - {unit_line(u, code=True)}", markup=False, highlight=False)
        warn(message)
        return
    _report(guard(lambda: retry_job(cfg, todo, ignore_errors=ignore_errors)), as_json)
    if todo.skipped:
        warn(f"{len(todo.skipped)} failed unit(s) could not be retried; see the warnings")


@app.command()
def status(
    job_id: str = typer.Argument(..., help="job id (from register, or `jobs`)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Show an upload job: status, counts and unit errors."""
    result = guard(lambda: catalog().get_job(job_id))
    if as_json:
        print_json(job_json(result))
    else:
        print_job(result)


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else ""


@app.command()
def jobs(
    folder: str | None = typer.Option(None, "--folder", "-f", help="only jobs of this folder"),
    status_: str | None = typer.Option(
        None, "--status", "-s", help="PENDING, RUNNING, DONE, FAILED or ABANDONED (any case)"
    ),
    limit: int = typer.Option(20, min=1, max=10_000, help="at most this many jobs"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List upload jobs, newest first."""
    if folder is not None:
        check_folder(folder)
    wanted = None
    if status_ is not None:
        names = [s.value for s in JobStatus]
        wanted = status_.strip().upper()
        if wanted not in names:
            fail(f"--status {status_!r}: must be one of {', '.join(names)}")
    rows = guard(lambda: catalog().list_jobs(folder, limit=limit, status=wanted))
    if as_json:
        keys = ("job_id", "status", "folder", "integration", "total", "registered", "created")
        keys += ("updated", "unchanged", "skipped", "failed", "error", "created_at", "finished_at")
        keys += ("retry_of", "owner", "run_id", "started_at", "heartbeat_at", "heartbeat_age_s")
        print_json([{k: v for k, v in job_json(r).items() if k in keys} for r in rows])
        return
    table = Table(
        "job", "status", "folder", "created", "updated", "failed", "started", "finished", "owner",
        "heartbeat",
    )  # fmt: skip
    for r in rows:
        age = heartbeat_age(r)
        table.add_row(
            r.job_id,
            r.status.value,
            escape(r.folder),
            str(r.created),
            str(r.updated),
            str(r.failed),
            _when(r.created_at),
            _when(r.finished_at),
            escape(r.owner or ""),
            f"{age:.0f} s ago" if age is not None and not r.status.finished else "",
        )
    out.print(table)


@app.command()
def folders(as_json: bool = typer.Option(False, "--json")) -> None:
    """List catalog folders with file counts."""
    rows = guard(lambda: catalog().list_folders())
    if as_json:
        print_json([asdict(f) for f in rows])
        return
    table = Table("name", "files", "bytes", "description", "created")
    for f in rows:
        table.add_row(
            escape(f.name),
            str(f.file_count),
            str(f.total_bytes),
            escape(f.description or ""),
            f"{f.created_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@app.command()
def files(
    folder: str,
    limit: int | None = typer.Option(None, min=1),
    offset: int = typer.Option(0, min=0),
    include_removed: bool = typer.Option(
        False, "--include-removed", help="also rows a sync marked removed (with removed_at)"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the files registered in FOLDER."""
    check_folder(folder)

    def run() -> list[Any]:
        rows = catalog().iter_files(
            folder, limit=limit, offset=offset, include_removed=include_removed
        )
        return list(rows)

    rows = guard(run)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    columns = ["key", "kind", "size", "width×height", "etag"]
    table = Table(*columns, *(["removed"] if include_removed else []))
    for r in rows:
        dims = f"{r.width}×{r.height}" if r.width and r.height else ""
        cells = [escape(r.key), r.media_kind or "", str(r.size or ""), dims, (r.etag or "")[:12]]
        if include_removed:
            cells.append(_when(r.removed_at))
        table.add_row(*cells)
    out.print(table)


@app.command()
def presign(
    folder: str,
    key_or_url: str,
    ttl: int = typer.Option(3600, help="lifetime in seconds, 900 (15 min) … 86400 (24 h)"),
) -> None:
    """Print a short-lived signed GET URL for a registered file (never stored)."""
    check_folder(folder)
    used = clamp_ttl(ttl)
    if ttl < MIN_SIGN_TTL:
        warn(f"--ttl {ttl} is below the 15-minute minimum; using {used} s")
    elif ttl > MAX_SIGN_TTL:
        warn(f"--ttl {ttl} is above the 24-hour maximum; using {used} s")

    def run() -> str:
        from orchestration_pkg.core.registration import build_storage

        cfg = config()
        record = catalog().find_file(folder, key_or_url)
        storage = build_storage(cfg.integration(record.integration))
        return storage.sign(record.key, used)

    sys.stdout.write(guard(run) + "\n")
