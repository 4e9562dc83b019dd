"""sync: reconcile a folder with a bucket prefix (the polling path and the "sync now" button)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.progress import TextColumn

from orchestration_pkg.cli.common import (
    app,
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
    Fetch,
    IgnoreErrors,
    check_fetch,
    fail_unless_done,
    registration_options,
)
from orchestration_pkg.cli.output import print_job

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
    fetch: Fetch = "auto",
    ignore_errors: IgnoreErrors = False,
    concurrency: Concurrency = 32,
    as_json: AsJson = False,
) -> None:
    """List a prefix and reconcile a folder with it: add new objects, update changed ones,
    handle deleted ones (--on-delete, default mark).

    An unchanged bucket costs one listing and one catalog read. Exit 0 when done, 1 when the
    job failed or nothing could be registered while objects failed, 2 for usage/config errors.
    """
    check_fetch(fetch)
    if on_delete is not None and on_delete not in ("keep", "mark", "remove"):
        fail("--on-delete must be keep, mark or remove")
    if folder is not None:
        check_folder(folder)
    from orchestration_pkg.core.sync import SyncProgress, sync_integration

    opts = registration_options(fetch, ignore_errors, concurrency)

    def run() -> SyncResult:
        cfg = config()
        warn_if_no_config(cfg)
        kwargs = {"folder": folder, "prefix": prefix, "on_delete": on_delete, "options": opts}
        if as_json or not (out.is_terminal and err.is_terminal):
            return sync_integration(cfg, integration, **kwargs)  # type: ignore[arg-type]
        with progress_bar(
            "syncing",
            TextColumn(
                "{task.fields[listed]} listed · {task.fields[same]} unchanged · "
                "{task.fields[ok]} registered · {task.fields[bad]} failed"
            ),
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
    fail_unless_done(job, "sync")
    if result.failed and not (result.added or result.updated or result.unchanged):
        fail(f"all {result.failed} changed objects failed; nothing registered", code=1)
    if result.failed:
        warn(f"{result.failed} object(s) failed; see the unit errors")
