"""``orchestration-pkg``: register manifests, inspect jobs, folders and files, sign URLs.

Commands live in submodules (``commands``, ``integrations``, ``config_cmd``) and register on the
one Typer ``app`` of :mod:`orchestration_pkg.cli.common`.
"""

from __future__ import annotations

from orchestration_pkg.cli import commands, integrations  # noqa: F401 - registers commands
from orchestration_pkg.cli.common import app
from orchestration_pkg.cli.config_cmd import config_app

app.add_typer(config_app, name="config")

__all__ = ["app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
