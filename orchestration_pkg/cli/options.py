"""Options the registering commands share (``register``, ``sync``, ``watch``): how objects are
probed, how failures are handled, how the outcome is printed — and the job failure line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from orchestration_pkg.cli.common import fail
from orchestration_pkg.cli.output import failure_reason

if TYPE_CHECKING:
    from orchestration_pkg.core.engine import RegistrationOptions
    from orchestration_pkg.core.models import JobResult

FETCH_MODES = ("auto", "head", "none")

Fetch = Annotated[str, typer.Option(help="auto: image headers etc. | head | none")]
IgnoreErrors = Annotated[
    bool, typer.Option("--ignore-errors", help="register good files and list the bad ones")
]
Concurrency = Annotated[int, typer.Option(min=1, max=512, help="objects probed at once")]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON document")]


def check_fetch(fetch: str) -> None:
    """One error line and exit 2 unless ``--fetch`` is auto, head or none."""
    if fetch not in FETCH_MODES:
        fail("--fetch must be auto, head or none")


def registration_options(
    fetch: str, ignore_errors: bool, concurrency: int, **extra: object
) -> RegistrationOptions:
    """The engine's options of the shared flags (the engine loads only now)."""
    from orchestration_pkg.core.engine import RegistrationOptions

    return RegistrationOptions(
        ignore_errors=ignore_errors,
        fetch=fetch,  # type: ignore[arg-type]
        concurrency=concurrency,
        **extra,  # type: ignore[arg-type]
    )


def fail_unless_done(job: JobResult, what: str) -> None:
    """Exit 1 with ``WHAT job ID STATUS: error; first error: …`` unless the job is DONE."""
    if job.status.value != "DONE":
        fail(f"{what} job {job.job_id} {job.status.value}: {failure_reason(job)}", code=1)
