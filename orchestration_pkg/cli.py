"""``orchestration-pkg``: register manifests, inspect jobs, folders and files, sign URLs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import AppConfig, load_config
from orchestration_pkg.core.engine import Progress as JobProgress
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.models import JobResult, JobStatus
from orchestration_pkg.core.registration import build_storage, register_manifest

app = typer.Typer(
    name="orchestration-pkg",
    help="Register files from private cloud buckets into catalog folders, without copying.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class _State:
    config_path: str | None = None


def _config() -> AppConfig:
    return load_config(_State.config_path)


def _catalog() -> Catalog:
    return Catalog(_config().catalog)


def _guard(fn: Callable[[], T]) -> T:
    """Run a command body; a user-facing error becomes one line on stderr and exit code 2."""
    try:
        return fn()
    except OrchestrationError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False, indent=2) + "\n")


@app.callback()
def _main(
    config: str | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="ORCHESTRATION_PKG_CONFIG",
        help="YAML config (default: $ORCHESTRATION_PKG_CONFIG or ./orchestration_pkg.yaml)",
    ),
) -> None:
    _State.config_path = config


@app.command()
def register(
    manifest: str = typer.Argument(..., help="manifest path, or s3://bucket/key of a manifest"),
    folder: str = typer.Option(..., "--folder", "-f", help="catalog folder (created if missing)"),
    integration: str | None = typer.Option(None, "--integration", "-i"),
    ignore_errors: bool = typer.Option(
        False, "--ignore-errors", help="register good files and list the bad ones"
    ),
    fetch: str = typer.Option("auto", help="auto: HEAD + image headers | head | none"),
    concurrency: int = typer.Option(32, min=1, max=512),
    verify_metadata: bool = typer.Option(
        False, "--verify-metadata", help="probe every object and compare with the manifest"
    ),
    description: str | None = typer.Option(None, help="folder description"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Register the objects listed in MANIFEST into FOLDER."""
    if fetch not in ("auto", "head", "none"):
        err.print("error: --fetch must be auto, head or none")
        raise typer.Exit(2)
    opts = RegistrationOptions(
        ignore_errors=ignore_errors,
        fetch=fetch,  # type: ignore[arg-type]
        concurrency=concurrency,
        folder_description=description,
        verify_metadata=verify_metadata,
    )

    def run() -> JobResult:
        config = _config()
        storage = build_storage(config.integration(integration))
        if as_json or not err.is_terminal:
            return register_manifest(config, manifest, folder, options=opts, storage=storage)
        with Progress(
            TextColumn("[bold]registering"),
            BarColumn(),
            TextColumn("{task.completed} rows · {task.fields[ok]} ok · {task.fields[bad]} failed"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("register", total=None, ok=0, bad=0)

            def on_progress(p: JobProgress) -> None:
                bar.update(task, completed=p.rows, ok=p.registered, bad=p.failed)

            return register_manifest(
                config, manifest, folder, options=opts, storage=storage, progress=on_progress
            )

    result = _guard(run)
    if as_json:
        _print_json(_job_json(result))
    else:
        _print_job(result)
    if result.status is JobStatus.FAILED:
        raise typer.Exit(1)


@app.command()
def status(job_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show an upload job: status, counts and unit errors."""
    result = _guard(lambda: _catalog().get_job(job_id))
    if as_json:
        _print_json(_job_json(result))
    else:
        _print_job(result)


@app.command()
def folders(as_json: bool = typer.Option(False, "--json")) -> None:
    """List catalog folders with file counts."""
    rows = _guard(lambda: _catalog().list_folders())
    if as_json:
        _print_json([asdict(f) for f in rows])
        return
    table = Table("name", "files", "bytes", "description", "created")
    for f in rows:
        table.add_row(
            f.name,
            str(f.file_count),
            str(f.total_bytes),
            f.description or "",
            f"{f.created_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@app.command()
def files(
    folder: str,
    limit: int | None = typer.Option(None, min=1),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the files registered in FOLDER."""

    def run() -> list[Any]:
        return list(_catalog().iter_files(folder, limit=limit, offset=offset))

    rows = _guard(run)
    if as_json:
        _print_json([asdict(r) for r in rows])
        return
    table = Table("key", "kind", "size", "width×height", "etag")
    for r in rows:
        dims = f"{r.width}×{r.height}" if r.width and r.height else ""
        table.add_row(r.key, r.media_kind or "", str(r.size or ""), dims, (r.etag or "")[:12])
    out.print(table)


@app.command()
def presign(
    folder: str,
    key_or_url: str,
    ttl: int = typer.Option(3600, help="lifetime in seconds, clamped to 900…86400"),
) -> None:
    """Print a short-lived signed GET URL for a registered file (never stored)."""

    def run() -> str:
        config = _config()
        record = _catalog().find_file(folder, key_or_url)
        storage = build_storage(config.integration(record.integration))
        return storage.sign(record.key, ttl)

    sys.stdout.write(_guard(run) + "\n")


integrations_app = typer.Typer(help="Configured integrations: list, setup policies, access test.")
app.add_typer(integrations_app, name="integrations")


def _integration_summary(cfg: Any) -> dict[str, Any]:
    """What `integrations list` shows: where it reads, how it authenticates; never secrets."""
    where = {
        "s3": lambda c: f"s3://{c.bucket}/{c.prefix}",
        "gcs": lambda c: f"gs://{c.bucket}/{c.prefix}",
        "azure": lambda c: f"{c.account_url.rstrip('/')}/{c.container}/{c.prefix}",
        "direct": lambda c: ", ".join(c.url_prefixes) or "(any URL)",
    }[cfg.provider](cfg)
    auth = getattr(getattr(cfg, "auth", None), "method", None)
    if cfg.provider == "direct":
        auth = "strict client-only" if cfg.strict_client_only else "pre-signed / unsigned URLs"
    return {
        "name": cfg.name,
        "provider": cfg.provider,
        "location": where,
        "auth": auth,
        "default": cfg.default,
        "manifests_prefix": cfg.manifests.prefix if cfg.manifests else None,
    }


@integrations_app.command("list")
def integrations_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List configured integrations."""
    rows = _guard(lambda: [_integration_summary(c) for c in _config().integrations])
    if as_json:
        _print_json(rows)
        return
    table = Table("name", "provider", "location", "auth", "default", "manifest sensor")
    for r in rows:
        table.add_row(
            r["name"],
            r["provider"],
            r["location"],
            str(r["auth"]),
            "✓" if r["default"] else "",
            r["manifests_prefix"] or "",
        )
    out.print(table)


@integrations_app.command("policy")
def integrations_policy(
    name: str,
    origin: list[str] = typer.Option(
        [], "--origin", help="web origin allowed by CORS (repeatable)"
    ),
    max_age: int = typer.Option(3600, help="CORS max age in seconds"),
    principal: str | None = typer.Option(
        None, help="S3 assume_role: ARN of the identity that assumes the role"
    ),
) -> None:
    """Print the least-privilege policy and the CORS configuration to paste (JSON)."""

    def run() -> dict[str, Any]:
        cfg = _config().integration(name)
        storage = build_storage(cfg)
        origins = origin or cfg.cors_origins or ["https://app.example.com"]
        if cfg.provider == "s3":
            return storage.setup_guide(origins, max_age, principal_arn=principal)
        return storage.setup_guide(origins, max_age)

    _print_json(_guard(run))


@integrations_app.command("test")
def integrations_test(
    name: str,
    url: str | None = typer.Argument(None, help="object URL or key to test (optional)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Check list, head, ranged read and signing separately; exit 1 if any fails."""

    def run() -> list[Any]:
        return build_storage(_config().integration(name)).check(url)

    rows = _guard(run)
    if as_json:
        _print_json([asdict(r) for r in rows])
    else:
        table = Table("permission", "result", "detail", "fix")
        for r in rows:
            mark = "[green]pass[/]" if r.ok else "[red]FAIL[/]"
            table.add_row(escape(r.permission), mark, escape(r.detail), escape(r.fix))
        out.print(table)
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


def _job_json(result: JobResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["unit_errors"] = [
        {"url": e.url, "error": e.error, "row": e.row} for e in result.unit_errors
    ]
    return data


def _print_job(result: JobResult) -> None:
    colour = {"DONE": "green", "FAILED": "red", "PENDING": "yellow"}[result.status.value]
    out.print(
        f"job [bold]{result.job_id}[/] → folder [bold]{result.folder}[/]: "
        f"[{colour}]{result.status.value}[/]"
    )
    out.print(
        f"  rows {result.total} · registered {result.registered} (new {result.created}, "
        f"updated {result.updated}, unchanged {result.unchanged}) · skipped "
        f"{result.skipped} · failed {result.failed} · bytes read {result.bytes_read}"
    )
    if result.stats:
        totals = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in sorted(result.stats.items()))
        out.print(f"  media: {totals}", markup=False, highlight=False)
    for w in result.warnings[:20]:
        out.print(f"  ! {w.url}: {w.error}", markup=False, highlight=False)
    if result.error:
        out.print(f"  [red]{result.error}[/]", markup=True, highlight=False)
    for e in result.unit_errors[:50]:
        out.print(f"  ✗ {e.url}: {e.error}", markup=False, highlight=False)
    if len(result.unit_errors) > 50:
        out.print(f"  … and {len(result.unit_errors) - 50} more (use --json)")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
