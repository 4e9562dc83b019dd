"""An asset that shows every integration's access checks and setup policies in the UI."""

from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration_pkg.assets.registration import metadata_table
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.resources.platform import PlatformResource

DEFAULT_ORIGINS = ["https://app.example.com"]


@asset(
    group_name="integrations",
    description="Access test (list, head, ranged read, sign) and the policies to paste, "
    "for every configured integration.",
    check_specs=[
        AssetCheckSpec(
            "all_access_checks_pass",
            asset="integration_health",
            description="fails when any integration lacks a permission it needs",
        )
    ],
)
def integration_health(
    context: AssetExecutionContext, platform: PlatformResource
) -> MaterializeResult:
    """Run each integration's ``check()`` and publish the rows and its setup guide."""
    rows: list[dict[str, Any]] = []
    metadata: dict[str, Any] = {}
    for cfg in platform.app_config().integrations:
        try:
            storage = platform.storage(cfg.name)
            checks = storage.check(None)
            guide = storage.setup_guide(cfg.cors_origins or DEFAULT_ORIGINS)
        except OrchestrationError as exc:
            rows.append(_row(cfg.name, "setup", False, str(exc), ""))
            continue
        rows += [_row(cfg.name, c.permission, c.ok, c.detail, c.fix) for c in checks]
        metadata[f"setup_{cfg.name}"] = MetadataValue.json(guide)
    failed = [r for r in rows if not r["ok"]]
    metadata["integrations"] = len(platform.app_config().integrations)
    metadata["failed_checks"] = len(failed)
    metadata["checks"] = metadata_table(
        [
            ("integration", "string"),
            ("permission", "string"),
            ("ok", "bool"),
            ("detail", "string"),
            ("fix", "string"),
        ],
        rows,
    )
    context.log.info("%d access checks, %d failed", len(rows), len(failed))
    check = AssetCheckResult(
        check_name="all_access_checks_pass",
        passed=not failed,
        severity=AssetCheckSeverity.WARN,
        metadata={"failed": len(failed)},
    )
    return MaterializeResult(metadata=metadata, check_results=[check])


def _row(name: str, permission: str, ok: bool, detail: str, fix: str) -> dict[str, Any]:
    return {"integration": name, "permission": permission, "ok": ok, "detail": detail, "fix": fix}
