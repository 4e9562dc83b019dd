"""One asset per declared catalog folder, and the external asset of each integration's bucket.

A folder of ``folders:`` (not watched) is an unpartitioned asset: materializing it registers
a manifest into it (``folders.<name>.manifest``, or the one the run config gives) and reports
the job on the asset. A watched folder is batch-partitioned instead (:mod:`.watch`). Either
way the folder asset depends on its integration's bucket asset.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Config,
    DataVersion,
    Failure,
    MaterializeResult,
    ObserveResult,
    multi_asset,
    observable_source_asset,
)
from pydantic import Field

from orchestration_pkg.core.config import AnyIntegrationConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.models import JobResult, JobStatus
from orchestration_pkg.core.registration import open_manifest, with_policies
from orchestration_pkg.resources.platform import PlatformResource

from .folder_results import (
    FirstKeys,
    folder_totals,
    job_metadata,
    preview_rows,
    registration_failure,
    unit_errors_check,
)
from .naming import DEFAULT_NAMES, DefinitionNames
from .translator import CatalogFolder, CatalogTranslator, folder_asset_args, is_watched, op_name_for

OBSERVE_CAP = 1000  # objects an observation looks at: the first listing page, never more


class FolderRunConfig(Config):
    """Run config of a folder asset; every field has a default (the launchpad's is valid)."""

    manifest: str = Field(
        default="", description="manifest to register (path or object URL); default: the folder's"
    )
    integration: str = Field(default="", description="integration; default: the folder's")
    ignore_errors: bool | None = Field(
        default=None, description="register the good files; default: folders.<name>.ignore_errors"
    )
    fetch: str = Field(default="auto", description="auto | head | none")
    verify_metadata: bool = Field(default=False, description="compare probed and given metadata")


@dataclass
class Registered:
    """A finished job with what its folder asset shows."""

    result: JobResult
    metadata: dict[str, Any]


def register_into_folder(
    platform: PlatformResource,
    source: str,
    folder: str,
    integration: str | None,
    options: RegistrationOptions,
) -> Registered:
    """Register the manifest at ``source`` into ``folder``: one engine job, its metadata
    (preview of the first registered files included). A FAILED job raises ``Failure``."""
    try:
        app, storage, catalog = (
            platform.app_config(),
            platform.storage(integration),
            platform.catalog(),
        )
        opts = with_policies(app, app.integration(storage.name), folder, options)
        with open_manifest(source, storage, app.limits) as manifest:
            rows = FirstKeys(manifest, storage)
            result = RegistrationEngine(catalog, storage).register(
                rows, folder, opts, manifest_name=source
            )
    except OrchestrationError as exc:  # bad manifest, unknown integration, bad folder name
        raise Failure(description=str(exc)) from None
    if result.status is not JobStatus.DONE:
        raise registration_failure(result)
    preview = preview_rows(catalog, folder, storage.name, rows.keys)
    return Registered(result, job_metadata(result, preview, folder_totals(catalog, folder)))


def run_options(
    fetch: str,
    *,
    ignore_errors: bool,
    verify_metadata: bool,
    description: str | None,
    run_id: str | None = None,
) -> RegistrationOptions:
    """The engine options of a run's config (``fetch`` checked: Dagster config has no enum)."""
    if fetch not in ("auto", "head", "none"):
        raise Failure(description=f"fetch must be auto, head or none, not {fetch!r}")
    return RegistrationOptions(
        fetch=fetch,  # type: ignore[arg-type]
        ignore_errors=ignore_errors,
        verify_metadata=verify_metadata,
        folder_description=description,
        run_id=run_id,
    )


def build_folder_asset(
    folder: CatalogFolder, translator: CatalogTranslator, names: DefinitionNames = DEFAULT_NAMES
) -> AssetsDefinition:
    """The unpartitioned asset of a ``folders:`` folder: a run registers a manifest into it."""
    spec = translator.get_asset_spec(folder)
    check_spec = translator.get_check_spec(folder, spec.key)
    op_name = op_name_for(spec.key)

    @multi_asset(
        name=op_name,
        **folder_asset_args(spec),
        check_specs=[check_spec],
        required_resource_keys={names.resource_key},
    )
    def _folder(context: AssetExecutionContext, config: FolderRunConfig) -> MaterializeResult:
        manifest = config.manifest or folder.policy.manifest
        if not manifest:
            raise Failure(
                description=f"folder '{folder.name}' has no manifest to register: set "
                f"folders.{folder.name}.manifest in the config, give one in the run config "
                f"(ops.{op_name}.config.manifest), or run {names.register_job}"
            )
        cfg = folder.integration
        ignore = (
            folder.policy.ignore_errors if config.ignore_errors is None else config.ignore_errors
        )
        opts = run_options(
            config.fetch,
            ignore_errors=ignore,
            verify_metadata=config.verify_metadata,
            description=folder.policy.description,
            run_id=context.run.run_id,
        )
        done = register_into_folder(
            names.platform(context),
            manifest,
            folder.name,
            config.integration or (cfg.name if cfg else None),
            opts,
        )
        context.log.info(
            "job %s into %s: %d registered, %d failed",
            done.result.job_id,
            folder.name,
            done.result.registered,
            done.result.failed,
        )
        check = unit_errors_check(done.result, folder.policy.check, spec.key)
        return MaterializeResult(asset_key=spec.key, metadata=done.metadata, check_results=[check])

    return _folder


def build_bucket_asset(
    cfg: AnyIntegrationConfig, translator: CatalogTranslator, names: DefinitionNames = DEFAULT_NAMES
) -> Any:
    """The integration's bucket prefix as an external asset; observable (a cheap DataVersion
    of the first listing page) when the provider can list, a plain external asset otherwise."""
    spec = translator.get_bucket_asset_spec(cfg)
    if cfg.listing_root() is None:  # direct URLs: nothing to list
        return spec
    prefix = cfg.watch.prefix if cfg.watch is not None and is_watched(cfg) else ""
    return _observable_bucket(cfg, spec, prefix, names)


def _observable_bucket(
    cfg: AnyIntegrationConfig, spec: AssetSpec, prefix: str, names: DefinitionNames
) -> Any:
    @observable_source_asset(
        key=spec.key,
        group_name=spec.group_name,
        description=spec.description,
        kinds=set(spec.kinds),
        tags=dict(spec.tags),
        required_resource_keys={names.resource_key},
    )
    def _bucket(context) -> ObserveResult:
        platform = names.platform(context)
        digest, count, newest = hashlib.sha1(), 0, None
        for info in platform.storage(cfg.name).list(prefix):
            digest.update(f"{info.key}\0{info.etag or ''}\0{info.size}\n".encode())
            count += 1
            if info.last_modified and (newest is None or info.last_modified > newest):
                newest = info.last_modified
            if count >= OBSERVE_CAP:
                break
        metadata: dict[str, Any] = {
            "objects_seen": count,
            "capped": count >= OBSERVE_CAP,
            "newest": str(newest) if newest else "",
        }
        return ObserveResult(
            data_version=DataVersion(f"{count}-{digest.hexdigest()[:16]}"), metadata=metadata
        )

    return _bucket
