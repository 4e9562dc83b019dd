"""watch: keep a folder in step with a bucket prefix (bucket notifications, else polling)."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

import typer

from orchestration_pkg.cli.common import (
    app,
    config,
    err,
    fail,
    guard,
    out,
    print_json,
    warn,
    warn_if_no_config,
)
from orchestration_pkg.cli.options import (
    Concurrency,
    Fetch,
    IgnoreErrors,
    check_fetch,
    fail_unless_done,
    registration_options,
)

if TYPE_CHECKING:
    from orchestration_pkg.core.notifications import WatchResult


def _summary(result: WatchResult) -> str:
    job = f"job {result.job.job_id} {result.status}" if result.job else "no job"
    if len(result.jobs) > 1:
        job += f" (of {len(result.jobs)} jobs)"
    head = f"watch {result.integration} → {result.folder} ({result.mode}): {job}"
    counts = (
        f"added {result.added} · updated {result.updated} · removed {result.removed} · "
        f"unchanged {result.unchanged} · failed {result.failed}"
    )
    if result.mode == "notifications":
        counts += (
            f" · messages {result.messages} · events {result.events} · ignored "
            f"{result.ignored} · poison {result.poison} · batches {result.batches} · "
            f"superseded {result.superseded} · pending {result.pending}"
        )
        if result.gave_up:
            counts += f" · gave up {result.gave_up}"
    else:
        counts += f" · listed {result.listed}"
    return f"{head}: {counts}"


@app.command()
def watch(
    integration: str = typer.Argument(..., help="the integration with a watch: block"),
    once: bool = typer.Option(False, "--once", help="one evaluation, then exit"),
    interval: float = typer.Option(
        10.0, "--interval", min=0.0, help="seconds between evaluations (without --once)"
    ),
    fetch: Fetch = "auto",
    ignore_errors: IgnoreErrors = False,
    concurrency: Concurrency = 32,
    as_json: bool = typer.Option(False, "--json", help="one JSON document per evaluation"),
) -> None:
    """Register what changed under watch.prefix into watch.folder: drain the bucket's event
    queue when watch.notifications is set (no listing), else sync the prefix (one listing).

    Messages are deleted only once their events are committed to the catalog's inbox (a crash
    re-delivers them); the inbox's batches are then applied, a failed one again next time
    (at most watch.max_batch_attempts times).
    Without --once it runs until SIGINT/SIGTERM. Exit 0 when done, 1 when a --once job
    failed, 2 for usage/config errors.
    """
    check_fetch(fetch)
    from orchestration_pkg.core.errors import ConfigError
    from orchestration_pkg.core.notifications import watch_integration

    opts = registration_options(fetch, ignore_errors, concurrency)
    cfg = guard(config)
    warn_if_no_config(cfg)

    def evaluate() -> WatchResult:
        result = watch_integration(cfg, integration, options=opts)
        if as_json:
            print_json(result.as_json())
        else:
            out.print(_summary(result), markup=False, highlight=False)
        if result.failed:
            warn(f"{result.failed} object(s) failed; see the unit errors")
        return result

    if once:
        result = guard(evaluate)
        if result.job is not None:
            fail_unless_done(result.job, "watch")
        return

    stop = threading.Event()
    caught: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        caught.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set():
            try:
                evaluate()  # a job in progress finishes; its messages are deleted or come back
            except ConfigError as exc:
                fail(str(exc))
            except Exception as exc:  # a queue or network hiccup: say so, try again next time
                warn(f"watch {integration}: evaluation failed: {type(exc).__name__}: {exc}")
            stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print(f"watch {integration}: stopped ({caught[0] if caught else 'done'})", markup=False)
