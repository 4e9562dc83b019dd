"""An asset that shows every integration's access checks and setup policies in the UI."""

from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration_pkg.assets.folder_results import metadata_table
from orchestration_pkg.assets.naming import DEFAULT_NAMES, DefinitionNames
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.storage import AccessCheck
from orchestration_pkg.resources.platform import PlatformResource

# Setup guides need an origin for their CORS part; without cors_origins that part is replaced
# by a note instead of silently carrying a made-up origin.
_UNSET_ORIGIN = "https://unset.invalid"
CHECK_NAME = "all_access_checks_pass"
CORS_NOTE = "set cors_origins in the integration's config to get the CORS rules to paste"


def build_integration_health(names: DefinitionNames = DEFAULT_NAMES) -> AssetsDefinition:
    """The ``integration_health`` asset of one set of definitions (key from ``names``)."""
    key = names.health_key

    @asset(
        key=key,
        group_name="integrations",
        description="Access test (list, head, ranged read, sign) and the policies to paste, "
        "for every configured integration.",
        check_specs=[
            AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                description="fails when any integration lacks a permission it needs",
            )
        ],
        required_resource_keys={names.resource_key},
    )
    def _health(context: AssetExecutionContext) -> MaterializeResult:
        return _run_checks(context, names.platform(context))

    return _health


def _run_checks(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult:
    """Run each integration's ``check()`` and publish the rows and its setup guide."""
    rows: list[dict[str, Any]] = []
    metadata: dict[str, Any] = {}
    for cfg in platform.app_config().integrations:
        try:
            storage = platform.storage(cfg.name)
            checks = storage.check(None)
            guide = storage.setup_guide(cfg.cors_origins or [_UNSET_ORIGIN])
        except OrchestrationError as exc:
            rows.append(_row(cfg.name, "setup", "FAIL", str(exc), ""))
            continue
        if not cfg.cors_origins:
            guide["cors"] = CORS_NOTE
        rows += [_row(cfg.name, c.permission, _result(c), c.detail, c.fix) for c in checks]
        metadata[f"setup_{cfg.name}"] = MetadataValue.json(guide)
    failed = [r for r in rows if r["result"] == "FAIL"]
    metadata["integrations"] = len(platform.app_config().integrations)
    metadata["failed_checks"] = len(failed)
    metadata["checks"] = metadata_table(
        [
            ("integration", "string"),
            ("permission", "string"),
            ("result", "string"),
            ("detail", "string"),
            ("fix", "string"),
        ],
        rows,
    )
    skipped = sum(r["result"] == "skipped" for r in rows)
    metadata["skipped_checks"] = skipped
    context.log.info("%d access checks, %d failed, %d skipped", len(rows), len(failed), skipped)
    check = AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not failed,
        severity=AssetCheckSeverity.WARN,
        metadata={"failed": len(failed)},
    )
    return MaterializeResult(metadata=metadata, check_results=[check])


integration_health = build_integration_health()
"""The asset under the default names (resource ``platform``)."""


def _result(check: AccessCheck) -> str:
    """``pass``, ``FAIL`` or ``skipped`` (a check that could not run fails nothing)."""
    return "skipped" if check.skipped else "pass" if check.ok else "FAIL"


def _row(name: str, permission: str, result: str, detail: str, fix: str) -> dict[str, Any]:
    return {
        "integration": name,
        "permission": permission,
        "result": result,
        "detail": detail,
        "fix": fix,
    }
