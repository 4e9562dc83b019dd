"""``export FOLDER --format F``: a folder in a labeling tool's import format, streamed."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer
from rich.progress import MofNCompleteColumn

from orchestration_pkg.cli.common import (
    app,
    check_folder,
    config,
    err,
    fail,
    guard,
    progress_bar,
    warn,
)
from orchestration_pkg.cli.common import catalog as open_catalog
from orchestration_pkg.core.errors import ConfigError, NotFoundError, OrchestrationError
from orchestration_pkg.core.models import MediaKind
from orchestration_pkg.core.storage import MAX_SIGN_TTL, MIN_SIGN_TTL, clamp_ttl

if TYPE_CHECKING:
    from orchestration_pkg.core.export import ExportResult

FORMAT_NAMES = ("encord", "labelbox", "ango", "label-studio", "cvat", "native")
URL_MODES = ("canonical", "signed", "gateway")
MAX_LINK_TTL = 365 * 86_400
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_BUFFER = 1 << 20


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2024-05-01``, ``2024-05-01T12:00:00+02:00`` (naive = UTC) or ``36h`` / ``7d`` ago."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(text.strip().lower())
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: use an ISO date/time (2024-05-01, 2024-05-01T12:00Z) or an age "
            "like 36h, 7d, 2w"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _ttl(urls: str, given: int | None, link_default: int) -> int:
    """The lifetime used: signed URLs 15 min–24 h, gateway links 15 min–365 d; a warning
    line when ``given`` was clamped."""
    if urls == "canonical":
        if given is not None:
            warn("--ttl only applies to --urls signed or gateway; ignored")
        return 0
    if urls == "signed":
        wanted = 3600 if given is None else given
        used, low, high = clamp_ttl(wanted), MIN_SIGN_TTL, MAX_SIGN_TTL
        what = "signed URLs live"
    else:
        wanted = link_default if given is None else given
        used, low, high = max(MIN_SIGN_TTL, min(MAX_LINK_TTL, wanted)), MIN_SIGN_TTL, MAX_LINK_TTL
        what = "gateway links live"
    if wanted < low:
        warn(f"--ttl {wanted} is below the minimum ({what} {low}…{high} s); using {used} s")
    elif wanted > high:
        warn(f"--ttl {wanted} is above the maximum ({what} {low}…{high} s); using {used} s")
    return used


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """stdout, or ``path`` written atomically (a temporary file renamed on success only)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        handle = partial.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    try:
        with handle:
            yield handle
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _summary(result: ExportResult, where: str) -> None:
    urls = {"canonical": "canonical URLs", "signed": "signed URLs", "gateway": "gateway links"}
    line = (
        f"exported {result.written} of {result.matched} rows of folder '{result.folder}' as "
        f"{result.format}"
    )
    if result.format != "cvat":
        line += f" ({urls[result.urls]})"
    err.print(f"{line} to {where} in {result.seconds:.1f} s", markup=False, highlight=False)
    if result.skipped:
        reasons = "; ".join(f"{n} {why}" for why, n in result.skipped.most_common())
        warn(f"{sum(result.skipped.values())} rows skipped: {reasons}")
    for note, n in result.notes.most_common():
        warn(f"{n} rows {note} (strict client-only integrations will refuse them)")
    if result.unsigned:
        warn(f"{result.unsigned} URLs of direct integrations written unsigned (they never sign)")
    if result.matched == 0:
        warn("no rows matched; wrote an empty export")


@app.command("export")
def export(
    folder: str = typer.Argument(..., help="catalog folder"),
    fmt: str = typer.Option(
        ..., "--format", "-F", help="encord | labelbox | ango | label-studio | cvat | native"
    ),
    urls: str = typer.Option(
        "canonical", "--urls", help="canonical | signed (presigned) | gateway (links to serve)"
    ),
    ttl: int | None = typer.Option(
        None,
        "--ttl",
        help="seconds: signed URLs 900…86400 (default 3600); gateway links 900…31536000 "
        "(default gateway.link_ttl_s)",
    ),
    gateway_url: str | None = typer.Option(
        None, "--gateway-url", help="the gateway's base URL (default gateway.public_url)"
    ),
    kind: str | None = typer.Option(None, "--kind", help="only this media kind (image, video, …)"),
    prefix: str = typer.Option("", "--prefix", help="only keys starting with this"),
    since: str | None = typer.Option(
        None, "--since", help="only rows changed since: ISO date/time or an age (36h, 7d)"
    ),
    output: str | None = typer.Option(None, "--output", "-o", help="file (default: stdout)"),
) -> None:
    """Write FOLDER's files (not the removed ones) in a labeling tool's import format.

    Streams in key order, so any folder size exports in flat memory. Exit 0 when written
    (warnings for skipped rows), 1 when the export failed (e.g. signing), 2 for usage or
    config errors.
    """
    check_folder(folder)
    if fmt not in FORMAT_NAMES:
        fail(f"--format {fmt!r}: must be one of {', '.join(FORMAT_NAMES)}")
    if urls not in URL_MODES:
        fail(f"--urls {urls!r}: must be one of {', '.join(URL_MODES)}")
    if fmt == "cvat" and urls != "canonical":
        fail("--format cvat names files, not URLs: drop --urls")
    kinds = [k.value for k in MediaKind]
    if kind is not None and kind not in kinds:
        fail(f"--kind {kind!r}: must be one of {', '.join(kinds)}")
    try:
        since_at = parse_since(since) if since is not None else None
    except typer.BadParameter as exc:
        fail(f"--since {exc}")
    from orchestration_pkg.core.export import ExportOptions, RowFilter, export_folder

    cfg = guard(config)
    used_ttl = _ttl(urls, ttl, cfg.gateway.link_ttl_s)
    options = ExportOptions(
        format=fmt,
        urls=urls,  # type: ignore[arg-type]
        ttl=used_ttl,
        gateway_url=gateway_url,
        where=RowFilter(kind=kind, prefix=prefix, since=since_at),
    )
    cat = guard(open_catalog)
    guard(lambda: cat.get_folder(folder))  # unknown folder: exit 2 before any file is made
    show_bar = err.is_terminal and (output not in (None, "-") or not sys.stdout.isatty())
    where = output if output not in (None, "-") else "stdout"

    def run(out: TextIO) -> ExportResult:
        if not show_bar:
            return export_folder(cfg, cat, folder, options, out)
        with progress_bar(f"exporting {fmt}", MofNCompleteColumn()) as bar:
            task = bar.add_task("export", total=None)

            def on_total(total: int) -> None:
                bar.update(task, total=total)

            def on_progress(done: int) -> None:
                bar.update(task, completed=done)

            return export_folder(
                cfg, cat, folder, options, out, on_total=on_total, progress=on_progress
            )

    try:
        with _output(output) as out:
            result = run(out)
    except OrchestrationError as exc:
        if isinstance(exc, (ConfigError, NotFoundError)):
            fail(str(exc))  # set-up problems are found before anything is written: exit 2
        fail(f"export failed: {exc}", code=1)
    except OSError as exc:
        fail(f"export failed writing {where}: {exc.strerror or exc}", code=1)
    finally:
        cat.dispose()
    _summary(result, where)
