"""``integrations list | policy | test``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from orchestration_pkg.cli.common import app, config, fail, guard, out, print_json, warn

integrations_app = typer.Typer(help="Configured integrations: list, setup policies, access test.")
app.add_typer(integrations_app, name="integrations")


def build_storage(cfg: Any) -> Any:
    from orchestration_pkg.core.registration import build_storage as build

    return build(cfg)


def integration_summary(cfg: Any) -> dict[str, Any]:
    """What `integrations list` shows: where it reads, how it authenticates; never secrets."""
    return {
        "name": cfg.name,
        "provider": cfg.provider,
        "location": cfg.location(),
        "auth": cfg.auth_summary(),
        "default": cfg.default,
        "manifests_prefix": cfg.manifests.prefix if cfg.manifests else None,
        # the sensor lists manifests.prefix *under* the integration's own prefix
        "manifests_location": cfg.location() + cfg.manifests.prefix if cfg.manifests else None,
    }


@integrations_app.command("list")
def integrations_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List configured integrations."""
    rows = guard(lambda: [integration_summary(c) for c in config().integrations])
    if as_json:
        print_json(rows)
        return
    table = Table("name", "provider", "location", "auth", "default", "manifest sensor")
    for r in rows:
        table.add_row(
            escape(r["name"]),
            r["provider"],
            escape(r["location"]),
            str(r["auth"]),
            "✓" if r["default"] else "",
            escape(r["manifests_location"] or ""),
        )
    out.print(table)


@integrations_app.command("policy")
def integrations_policy(
    name: str,
    origin: list[str] = typer.Option(
        [], "--origin", help="web origin allowed by CORS (repeatable; default: cors_origins)"
    ),
    no_cors: bool = typer.Option(False, "--no-cors", help="print the access policy only"),
    max_age: int = typer.Option(3600, help="CORS max age in seconds"),
    principal: str | None = typer.Option(
        None,
        help="identity to grant: S3 ARN that assumes the role, GCS member "
        "(serviceAccount:EMAIL), Azure service principal object id",
    ),
) -> None:
    """Print the least-privilege policy and the CORS configuration to paste (JSON).

    The CORS rules need the web origin(s) of your app: --origin, or cors_origins in the
    integration's config; --no-cors prints the access policy alone.
    """
    if no_cors and origin:
        fail("--origin and --no-cors cannot be used together")

    def run() -> dict[str, Any]:
        cfg = config().integration(name)
        storage = build_storage(cfg)
        origins = origin or cfg.cors_origins
        if not origins and not no_cors:
            fail(
                f"integrations policy {name}: CORS needs your app's web origin: pass "
                "--origin https://your.app (repeatable), set cors_origins in the integration, "
                "or pass --no-cors for the access policy alone"
            )
        # With --no-cors the rules are dropped; the origin below never reaches the output.
        origins = origins or ["https://unused.invalid"]
        guide = storage.setup_guide(origins, max_age, principal=principal)
        if no_cors:
            guide.pop("cors", None)
            if isinstance(guide.get("notes"), list):
                guide["notes"] = [n for n in guide["notes"] if "cors" not in str(n).lower()]
        return guide

    print_json(guard(run))


@integrations_app.command("test")
def integrations_test(
    name: str,
    url: str | None = typer.Argument(None, help="object URL or key to test (optional)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Check list, head, ranged read and signing separately; exit 1 if any fails.

    Checks that could not run are SKIPPED, with the reason; they do not fail the command.
    """

    def run() -> list[Any]:
        return build_storage(config().integration(name)).check(url)

    rows = guard(run)
    if as_json:
        print_json([asdict(r) for r in rows])
    else:
        table = Table("permission", "result", "detail", "fix")
        for r in rows:
            mark = (
                "[yellow]skipped[/]" if r.skipped else "[green]pass[/]" if r.ok else "[red]FAIL[/]"
            )
            table.add_row(escape(r.permission), mark, escape(r.detail), escape(r.fix))
        out.print(table)
    skipped = [r for r in rows if r.skipped]
    if skipped:
        names = ", ".join(r.permission for r in skipped)
        reasons = "; ".join(dict.fromkeys(r.detail for r in skipped))
        warn(f"{len(skipped)} check(s) skipped ({names}): {reasons}")
    failed = [r for r in rows if not r.ok and not r.skipped]
    if failed:
        first = failed[0]
        fail(
            f"{len(failed)} check(s) failed ({', '.join(r.permission for r in failed)}); "
            f"first: {first.permission}: {first.detail}",
            code=1,
        )
