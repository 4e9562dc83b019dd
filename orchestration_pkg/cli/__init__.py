"""``orchestration-pkg``: register manifests, inspect jobs, folders and files, sign URLs.

Commands live in submodules (``commands``, ``integrations``, ``config_cmd``) and register on the
one Typer ``app`` of :mod:`orchestration_pkg.cli.common`.
"""

from __future__ import annotations

import sys

try:  # recent Typer vendors Click as typer._click; older ones use Click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from orchestration_pkg.cli import commands, integrations, sync_cmd  # noqa: F401 - registers commands
from orchestration_pkg.cli.common import app, err
from orchestration_pkg.cli.config_cmd import config_app

app.add_typer(config_app, name="config")

__all__ = ["app", "main"]


def main() -> None:
    """The entry point: usage errors (missing option, bad value) are one line and exit 2."""
    try:
        code = app(standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx else "")
        sys.exit(2)  # as Click does: no command is a usage error
    except click_exceptions.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "orchestration-pkg"
        message = " ".join(exc.format_message().split())
        err.print(f"error: {message} (see: {where} --help)", markup=False, highlight=False)
        sys.exit(2)
    except click_exceptions.Abort:
        err.print("aborted", markup=False, highlight=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
