"""``register_manifest_job``: register one manifest into any folder, declared or ad hoc.

Its run config is typed (:class:`ManifestRunConfig`) and every field has a default, so the
launchpad's scaffold is valid; a run without a manifest or folder fails with one line saying
what to set. The run reports the job as a materialization of the folder's asset key (the
translator's ``[key_prefix, "folder", <name>]``), plus its ``no_unit_errors`` check when the
folder is declared, so ad-hoc folders show up in the asset catalog too. Into a watched folder
(a batch-partitioned asset) the manifest is one batch: the materialization and the check are
of the partition ``mf-<hash>`` (:func:`~.reporting.manifest_partition`; the manifest sensor
adds it, a launch by hand adds it when the job is done).
"""

from typing import Any

from dagster import (
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

from .folders import register_into_folder, run_options
from .naming import DEFAULT_NAMES, DefinitionNames
from .reporting import ensure_partition, manifest_partition, report_job
from .translator import CatalogFolder, CatalogTranslator

REGISTER_JOB = DEFAULT_NAMES.register_job
REGISTER_OP = DEFAULT_NAMES.register_op
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
    partition: str = Field(
        default="",
        description="into a watched folder: its batch partition (default: mf-<hash of the "
        "manifest and the run id>)",
    )


def manifest_run_config(
    manifest: str, folder: str, *, op_name: str = REGISTER_OP, **fields: Any
) -> dict[str, Any]:
    """The run config of ``register_manifest_job`` (what its sensor and the README use);
    ``op_name`` is the op's name under a key prefix other than the default one."""
    config = ManifestRunConfig(manifest=manifest, folder=folder, **fields)
    given = config.model_dump(exclude_defaults=True) | {"manifest": manifest, "folder": folder}
    return {"ops": {op_name: {"config": given}}}


def build_register_manifest_job(
    config: AppConfig,
    folders: list[CatalogFolder],
    translator: CatalogTranslator,
    names: DefinitionNames = DEFAULT_NAMES,
) -> JobDefinition:
    """The job; ``folders`` are the declared ones (their asset keys and check settings)."""
    declared = {f.name: f for f in folders}
    op_name = names.register_op

    @op(
        name=op_name,
        description="Register one manifest into one catalog folder.",
        required_resource_keys={names.resource_key},
    )
    def _register(context: OpExecutionContext, config: ManifestRunConfig) -> None:
        if not config.manifest or not config.folder:
            example = manifest_run_config(EXAMPLE, "lake", op_name=op_name)
            raise Failure(
                description=f"{names.register_job} needs a manifest and a folder: set "
                f"ops.{op_name}.config.manifest and .folder, e.g. {example}"
            )
        platform = names.platform(context)
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
        partition = None
        if folder.declared and folder.watch is not None and folder.integration is not None:
            partition = config.partition or manifest_partition(config.manifest, context.run_id)
            ensure_partition(context.instance, names.batches(folder.integration.name), partition)
        report_job(context, key, folder, done.result, done.metadata, partition)

    @job(name=names.register_job, description="Register one manifest into one catalog folder.")
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
