"""What every command shares: the Typer app, consoles, config/catalog access, error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn

from orchestration_pkg.core.config import AppConfig, explain_config_path, load_config
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.folders import validate_folder_name

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog

T = TypeVar("T")

app = typer.Typer(
    name="orchestration-pkg",
    help="Register files from private cloud buckets into catalog folders, without copying.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Lines wider than any terminal: when the output is a pipe or a file, nothing is wrapped.
_NO_WRAP_WIDTH = 100_000


def _console(*, stderr: bool) -> Console:
    """A console that wraps only on a terminal (plain output is one line per line)."""
    console = Console(stderr=stderr, soft_wrap=True)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, soft_wrap=True, width=_NO_WRAP_WIDTH)


out = _console(stderr=False)
err = _console(stderr=True)


class State:
    """Per-invocation options of the top-level callback."""

    config_path: str | None = None
    warned_no_config: bool = False


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr."""
    err.print(f"warning: {message}", markup=False, highlight=False)


def config() -> AppConfig:
    return load_config(State.config_path)


def warn_if_no_config(cfg: AppConfig) -> None:
    """Once per command: say so when no config file exists (the default catalog is used)."""
    from orchestration_pkg.core.catalog import redact_db_url

    path, why = explain_config_path(State.config_path)
    if path is None and not State.warned_no_config:
        State.warned_no_config = True
        warn(f"{why}; using {redact_db_url(cfg.catalog)}")


def catalog() -> Catalog:
    """The configured catalog (warns when there is no config file)."""
    from orchestration_pkg.core.catalog import Catalog  # SQLAlchemy: only when needed

    cfg = config()
    warn_if_no_config(cfg)
    return Catalog.for_config(cfg)


def guard(fn: Callable[[], T]) -> T:
    """Run a command body; a user-facing error becomes one line on stderr and exit code 2
    (1 for errors that are not about the command line, such as a busy catalog)."""
    try:
        return fn()
    except OrchestrationError as exc:
        fail(str(exc), code=getattr(exc, "exit_code", 2))


def fail(message: str, code: int = 2) -> Any:
    """Print ``error: message`` (one line) on stderr and exit with ``code``."""
    err.print(f"error: {' '.join(message.splitlines())}", markup=False, highlight=False)
    raise typer.Exit(code)


def check_folder(name: str) -> str:
    """``name`` if it is a valid folder name, else one error line and exit code 2."""
    return guard(lambda: validate_folder_name(name))


def progress_bar(title: str, *columns: ProgressColumn) -> Progress:
    """A transient bar on stderr: bold ``title``, the bar, ``columns``, the elapsed time."""
    return Progress(
        TextColumn(f"[bold]{title}"),
        BarColumn(),
        *columns,
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False, indent=2) + "\n")


@app.callback()
def _main(
    config_path: str | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML config (default: $ORCHESTRATION_PKG_CONFIG or ./orchestration_pkg.yaml)",
    ),
) -> None:
    State.config_path = config_path
    State.warned_no_config = False
