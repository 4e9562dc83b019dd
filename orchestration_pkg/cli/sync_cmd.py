"""sync: reconcile a folder with a bucket prefix (the polling path and the "sync now" button)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from orchestration_pkg.cli.common import (
    app,
    check_folder,
    config,
    err,
    fail,
    guard,
    out,
    print_json,
    warn,
    warn_if_no_config,
)
from orchestration_pkg.cli.output import print_job, unit_line

if TYPE_CHECKING:
    from orchestration_pkg.core.sync import SyncResult


@app.command()
def sync(
    integration: str = typer.Argument(..., help="the integration whose bucket is listed"),
    prefix: str | None = typer.Option(
        None, "--prefix", "-p", help="under the integration's prefix (default: watch.prefix)"
    ),
    folder: str | None = typer.Option(
        None, "--folder", "-f", help="catalog folder (default: watch.folder)"
    ),
    on_delete: str | None = typer.Option(
        None, "--on-delete", help="objects gone from the bucket: keep | mark | remove"
    ),
    fetch: str = typer.Option("auto", help="auto: image headers etc. | head | none"),
    ignore_errors: bool = typer.Option(
        False, "--ignore-errors", help="register good files and list the bad ones"
    ),
    concurrency: int = typer.Option(32, min=1, max=512),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """List a prefix and reconcile a folder with it: add new objects, update changed ones,
    handle deleted ones (--on-delete, default mark).

    An unchanged bucket costs one listing and one catalog read. Exit 0 when done, 1 when the
    job failed or nothing could be registered while objects failed, 2 for usage/config errors.
    """
    if fetch not in ("auto", "head", "none"):
        fail("--fetch must be auto, head or none")
    if on_delete is not None and on_delete not in ("keep", "mark", "remove"):
        fail("--on-delete must be keep, mark or remove")
    if folder is not None:
        check_folder(folder)
    from orchestration_pkg.core.engine import RegistrationOptions
    from orchestration_pkg.core.sync import SyncProgress, sync_integration

    opts = RegistrationOptions(
        ignore_errors=ignore_errors,
        fetch=fetch,  # type: ignore[arg-type]
        concurrency=concurrency,
    )

    def run() -> SyncResult:
        cfg = config()
        warn_if_no_config(cfg)
        kwargs = {"folder": folder, "prefix": prefix, "on_delete": on_delete, "options": opts}
        if as_json or not (out.is_terminal and err.is_terminal):
            return sync_integration(cfg, integration, **kwargs)  # type: ignore[arg-type]
        with Progress(
            TextColumn("[bold]syncing"),
            BarColumn(),
            TextColumn(
                "{task.fields[listed]} listed · {task.fields[same]} unchanged · "
                "{task.fields[ok]} registered · {task.fields[bad]} failed"
            ),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("sync", total=None, listed=0, same=0, ok=0, bad=0)

            def on_progress(p: SyncProgress) -> None:
                bar.update(task, listed=p.listed, same=p.unchanged, ok=p.registered, bad=p.failed)

            return sync_integration(cfg, integration, progress=on_progress, **kwargs)  # type: ignore[arg-type]

    result = guard(run)
    job = result.job
    if as_json:
        print_json(result.as_json())
    else:
        print_job(job, sync_line=False)  # the sync line below says more
        out.print(
            f"  sync {result.prefix or '(whole bucket)'}: listed {result.listed} · added "
            f"{result.added} · updated {result.updated} · removed {result.removed} · "
            f"unchanged {result.unchanged} · failed {result.failed}",
            markup=False,
            highlight=False,
        )
    if job.status.value != "DONE":
        reason = job.error or "failed"
        if job.unit_errors:
            reason += f"; first error: {unit_line(job.unit_errors[0])}"
        fail(f"sync job {job.job_id} {job.status.value}: {reason}", code=1)
    if result.failed and not (result.added or result.updated or result.unchanged):
        fail(f"all {result.failed} changed objects failed; nothing registered", code=1)
    if result.failed:
        warn(f"{result.failed} object(s) failed; see the unit errors")
