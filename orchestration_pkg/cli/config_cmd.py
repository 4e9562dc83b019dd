"""``config show``: which config file is used and why, and what it says (secrets masked)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from orchestration_pkg.cli.common import State, guard, out, print_json
from orchestration_pkg.cli.integrations import integration_summary
from orchestration_pkg.core.config import explain_config_path, load_config

config_app = typer.Typer(help="The configuration in use.")


def describe_config() -> dict[str, Any]:
    """The config file (and why that one), the redacted catalog URL, the integrations with
    secrets masked (pydantic shows ``SecretStr`` as ``**********``) and folder policies."""
    from orchestration_pkg.core.catalog import redact_db_url

    path, why = explain_config_path(State.config_path)
    cfg = load_config(State.config_path)
    return {
        "config_file": str(path.resolve()) if path else None,
        "source": why,
        "catalog": redact_db_url(cfg.catalog),
        "integrations": [i.model_dump(mode="json", exclude_none=True) for i in cfg.integrations],
        "folders": {
            k: v.model_dump(mode="json", exclude_none=True) for k, v in cfg.folders.items()
        },
    }


@config_app.command("show")
def config_show(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show which config file is used and why, the catalog URL and integrations (no secrets)."""
    doc = guard(describe_config)
    if as_json:
        print_json(doc)
        return
    where = doc["config_file"] or "(none: built-in defaults)"
    out.print(f"config file: {where}", markup=False, highlight=False)
    out.print(f"  why: {doc['source']}", markup=False, highlight=False)
    out.print(f"catalog: {doc['catalog']}", markup=False, highlight=False)
    if not doc["integrations"]:
        out.print("integrations: none configured", markup=False, highlight=False)
        return
    cfg = load_config(State.config_path)
    table = Table("name", "provider", "location", "auth", "default", title="integrations")
    for item in cfg.integrations:
        s = integration_summary(item)
        table.add_row(
            escape(s["name"]),
            s["provider"],
            escape(s["location"]),
            str(s["auth"]),
            "✓" if s["default"] else "",
        )
    out.print(table)
    if doc["folders"]:
        out.print(f"folder policies: {', '.join(doc['folders'])}", markup=False, highlight=False)
