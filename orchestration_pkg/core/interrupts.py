"""SIGTERM and SIGINT as one exception, and the few places where it must wait.

Docker, Kubernetes, systemd and Dagster stop a process with SIGTERM, a user with Ctrl-C
(SIGINT). :func:`handle_termination` (the CLI installs it) turns both into
:class:`JobInterrupted`, raised in the main thread like ``KeyboardInterrupt``; the engine then
records the running job FAILED ("terminated by SIGTERM"), discards what it staged, and the CLI
prints one line. Inside :func:`deferred` blocks (recording a job's start and its outcome) a
signal is held back until the block ends, so a job row is never left half-written or without
an owner to fail it.

Without :func:`handle_termination` (Dagster's run worker, a library caller) nothing changes:
SIGINT is Python's ``KeyboardInterrupt``, which the engine handles the same way.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class JobInterrupted(BaseException):
    """A termination signal arrived; ``job_id`` is set once the engine recorded the job."""

    def __init__(self, signame: str) -> None:
        super().__init__(f"terminated by {signame}")
        self.signame = signame
        self.job_id: str | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process killed by it."""
        return 128 + int(signal.Signals[self.signame])


class _State:
    depth = 0  # nesting of deferred() blocks in the main thread
    pending: str | None = None  # a signal that arrived inside one


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _State.depth > 0:
        _State.pending = _State.pending or name
        return
    raise JobInterrupted(name)


@contextmanager
def handle_termination() -> Iterator[None]:
    """SIGTERM/SIGINT raise :class:`JobInterrupted` inside (main thread only); restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _State.pending = None


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a termination signal back until the block is done, then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0 and _State.pending:
            name, _State.pending = _State.pending, None
            raise JobInterrupted(name)


def signal_reason(exc: BaseException) -> str | None:
    """ "terminated by SIGTERM" for a termination, None for any other exception."""
    if isinstance(exc, JobInterrupted):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "terminated by SIGINT"
    # Dagster turns a run's termination (SIGTERM to the run worker) into this BaseException;
    # matched by name because the core does not import Dagster.
    if type(exc).__name__ == "DagsterExecutionInterruptedError":
        return "terminated: the Dagster run was interrupted"
    return None
