"""``serve`` (the signed-URL gateway) and ``gateway token create|list|revoke``."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table

from orchestration_pkg.cli.common import (
    app,
    catalog,
    check_folder,
    config,
    err,
    fail,
    guard,
    out,
    print_json,
    warn,
)

gateway_app = typer.Typer(help="The signed-URL gateway: bearer tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens (only their hashes are stored).", no_args_is_help=True)
gateway_app.add_typer(token_app, name="token")
app.add_typer(gateway_app, name="gateway")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port"),
    log_level: str = typer.Option("info", help="info (access log) | warning | error | debug"),
) -> None:
    """Serve GET/HEAD /v1/folders/FOLDER/files/KEY → 302 to a fresh presigned URL.

    Callers authenticate with a bearer token (`gateway token create`) or use a signed link
    written by `export --urls gateway`. Runs until interrupted.
    """
    if log_level not in ("info", "warning", "error", "debug"):
        fail("--log-level must be info, warning, error or debug")
    from orchestration_pkg.server.run import serve as run

    cfg = guard(config)
    cat = guard(catalog)
    if not cfg.gateway.keys():
        warn(
            "no gateway signing key (gateway.signing_keys / $ORCHESTRATION_PKG_GATEWAY_KEY): "
            "only bearer tokens are accepted"
        )
    err.print(f"gateway on http://{host}:{port} (Ctrl-C stops it)", markup=False, highlight=False)
    try:
        run(cfg, cat, host, port, log_level=log_level)
    finally:
        cat.dispose()


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="a name to list and revoke it by"),
    folder: list[str] = typer.Option(..., "--folder", "-f", help="a folder it may read (repeat)"),
) -> None:
    """Create a token for FOLDERs and print it once (only its hash is stored)."""
    from orchestration_pkg.core.gateway.tokens import create_token

    folders = [check_folder(f) for f in folder]
    cat = guard(catalog)
    try:
        known = {f.name for f in guard(cat.list_folders)}
        for missing in [f for f in folders if f not in known]:
            warn(f"folder '{missing}' does not exist (yet); the token may read it once it does")
        token, _ = guard(lambda: create_token(cat, name, folders))
    finally:
        cat.dispose()
    sys.stdout.write(token + "\n")
    err.print(
        f"token '{name}' for {', '.join(folders)}: shown once, store it now",
        markup=False,
        highlight=False,
    )


@token_app.command("list")
def token_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Tokens: name, the first characters, folders, created (never the token)."""
    from orchestration_pkg.core.gateway.tokens import list_tokens

    cat = guard(catalog)
    try:
        rows = guard(lambda: list_tokens(cat))
    finally:
        cat.dispose()
    if as_json:
        print_json(
            [
                {"name": t.name, "hint": t.hint + "…", "folders": list(t.folders),
                 "created_at": t.created_at}
                for t in rows
            ]
        )  # fmt: skip
        return
    table = Table("name", "token", "folders", "created")
    for t in rows:
        table.add_row(
            escape(t.name),
            t.hint + "…",
            escape(", ".join(t.folders)),
            f"{t.created_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(..., help="the token's name")) -> None:
    """Delete token NAME: the gateway refuses it from the next request on."""
    from orchestration_pkg.core.gateway.tokens import revoke_token

    cat = guard(catalog)
    try:
        guard(lambda: revoke_token(cat, name))
    finally:
        cat.dispose()
    err.print(f"token '{name}' revoked", markup=False, highlight=False)
