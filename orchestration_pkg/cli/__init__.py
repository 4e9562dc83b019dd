"""``orchestration-pkg``: register manifests, inspect jobs, folders and files, sign URLs.

Commands live in submodules (``commands``, ``integrations``, ``config_cmd``) and register on the
one Typer ``app`` of :mod:`orchestration_pkg.cli.common`.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

try:  # Typer 0.29 vendors Click as the private typer._click (pinned <0.30 in pyproject)
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older Typer uses Click itself
    from click import exceptions as click_exceptions

from orchestration_pkg.cli import (  # noqa: F401 - registers commands
    commands,
    export_cmd,
    gateway_cmd,
    integrations,
    sync_cmd,
    watch_cmd,
)
from orchestration_pkg.cli.common import app, err
from orchestration_pkg.cli.config_cmd import config_app
from orchestration_pkg.core.interrupts import JobInterrupted, handle_termination

app.add_typer(config_app, name="config")

__all__ = ["app", "main"]


def main() -> None:
    """The entry point: usage errors (missing option, bad value) are one line and exit 2."""
    try:
        with handle_termination():  # SIGTERM/SIGINT: the running job is recorded FAILED first
            code = app(standalone_mode=False)
    except JobInterrupted as exc:
        job = f": job {exc.job_id} marked FAILED" if exc.job_id else ""
        err.print(f"error: {exc}{job}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except click_exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx else "")
        sys.exit(2)  # as Click does: no command is a usage error
    except click_exceptions.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "orchestration-pkg"
        message = " ".join(exc.format_message().split())
        err.print(f"error: {message} (see: {where} --help)", markup=False, highlight=False)
        sys.exit(2)
    except typer.Abort:
        err.print("aborted", markup=False, highlight=False)
        sys.exit(130)
    except BrokenPipeError:  # e.g. `orchestration-pkg files lake | head`: stop quietly
        _quiet_stdout()
        sys.exit(1)
    except Exception as exc:  # a bug: one line naming it, never a traceback (secrets in text)
        from orchestration_pkg.core.unit_errors import raised_at

        logging.getLogger(__name__).debug("internal error", exc_info=True)
        where = f"{type(exc).__name__} at {raised_at(exc)}"
        err.print(f"error: unexpected {where} (details not shown)", markup=False)
        sys.exit(1)
    if _stdout_closed():
        _quiet_stdout()
    sys.exit(code if isinstance(code, int) else 0)


def _stdout_closed() -> bool:
    """Whether the reader of stdout went away (flushing raises BrokenPipeError)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail loudly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    main()
