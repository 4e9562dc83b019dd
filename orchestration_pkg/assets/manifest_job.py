"""``register_manifest_job``: register one manifest into any folder, declared or ad hoc.

Its run config is typed (:class:`ManifestRunConfig`) and every field has a default, so the
launchpad's scaffold is valid; a run without a manifest or folder fails with one line saying
what to set. The run reports the job as a materialization of the folder's asset key (the
translator's ``[key_prefix, "folder", <name>]``), plus its ``no_unit_errors`` check when the
folder is declared, so ad-hoc folders show up in the asset catalog too.
"""

from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetMaterialization,
    Config,
    Failure,
    JobDefinition,
    OpExecutionContext,
    job,
    op,
)
from pydantic import Field

from orchestration_pkg.core.config import AppConfig
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.resources.platform import PlatformResource

from .folder_results import unit_errors_check
from .folders import register_into_folder, run_options
from .translator import CatalogFolder, CatalogTranslator

REGISTER_JOB = "register_manifest_job"
REGISTER_OP = "register_manifest"
EXAMPLE = "s3://acme-private-data/raw/manifests/batch.json"


class ManifestRunConfig(Config):
    """Which manifest goes into which folder; every field has a default."""

    manifest: str = Field(
        default="", description=f"local path, or object URL of the manifest (e.g. {EXAMPLE})"
    )
    folder: str = Field(default="", description="catalog folder (created if missing)")
    integration: str = Field(
        default="", description="integration name; default: the folder's, else the default one"
    )
    ignore_errors: bool = Field(default=False, description="register good files, list bad ones")
    fetch: str = Field(default="auto", description="auto | head | none")
    verify_metadata: bool = Field(
        default=False, description="probe every object and compare with the manifest"
    )
    folder_description: str = Field(default="", description="description of a new folder")


def manifest_run_config(manifest: str, folder: str, **fields: Any) -> dict[str, Any]:
    """The run config of ``register_manifest_job`` (what its sensor and the README use)."""
    config = ManifestRunConfig(manifest=manifest, folder=folder, **fields)
    given = config.model_dump(exclude_defaults=True) | {"manifest": manifest, "folder": folder}
    return {"ops": {REGISTER_OP: {"config": given}}}


def build_register_manifest_job(
    config: AppConfig, folders: list[CatalogFolder], translator: CatalogTranslator
) -> JobDefinition:
    """The job; ``folders`` are the declared ones (their asset keys and check settings)."""
    declared = {f.name: f for f in folders}

    @op(name=REGISTER_OP, description="Register one manifest into one catalog folder.")
    def _register(
        context: OpExecutionContext, config: ManifestRunConfig, platform: PlatformResource
    ) -> None:
        if not config.manifest or not config.folder:
            example = manifest_run_config(EXAMPLE, "lake")
            raise Failure(
                description=f"{REGISTER_JOB} needs a manifest and a folder: set "
                f"ops.{REGISTER_OP}.config.manifest and .folder, e.g. {example}"
            )
        folder = declared.get(config.folder) or _adhoc(platform.app_config(), config)
        integration = config.integration or (folder.integration.name if folder.integration else "")
        opts = run_options(
            config.fetch,
            ignore_errors=config.ignore_errors,
            verify_metadata=config.verify_metadata,
            description=config.folder_description or folder.policy.description,
            run_id=context.run.run_id,
        )
        done = register_into_folder(
            platform, config.manifest, folder.name, integration or None, opts
        )
        key = translator.get_asset_spec(folder).key
        context.log.info(
            "job %s into %s: %d registered, %d failed",
            done.result.job_id,
            folder.name,
            done.result.registered,
            done.result.failed,
        )
        context.log_event(AssetMaterialization(asset_key=key, metadata=done.metadata))
        if folder.declared:
            check = unit_errors_check(done.result, folder.policy.check, key)
            context.log_event(
                AssetCheckEvaluation(
                    asset_key=key,
                    check_name=check.check_name or "",
                    passed=check.passed,
                    severity=check.severity,
                    metadata=check.metadata,
                )
            )

    @job(name=REGISTER_JOB, description="Register one manifest into one catalog folder.")
    def _job() -> None:
        _register()

    return _job


def _adhoc(app: AppConfig, config: ManifestRunConfig) -> CatalogFolder:
    """A folder only this run names: its integration is the run's, else the default one."""
    try:
        cfg = app.integration(config.integration or None)
    except NotFoundError as exc:
        raise Failure(description=str(exc)) from None
    return CatalogFolder(name=config.folder, integration=cfg, declared=False)
