"""Dagster side of ``watch:``: per watched folder, its asset partitioned by batch, its sensor,
and a daily full sync for deletions (its upstream bucket asset is built in :mod:`.folders`).

The folder asset's partitions are batches, never files (a dynamic partition per batch the
watch sensor found, see :mod:`orchestration_pkg.sensors.watch_sensor`). Materializing one
registers exactly the batch's keys (given in the run config by the sensor) through the engine,
as listed objects: no listing, no manifest.
"""

from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    DefaultScheduleStatus,
    DynamicPartitionsDefinition,
    Failure,
    JobDefinition,
    MaterializeResult,
    OpExecutionContext,
    RunsFilter,
    ScheduleDefinition,
    SensorDefinition,
    define_asset_job,
    in_process_executor,
    job,
    multi_asset,
    op,
)
from pydantic import Field

from orchestration_pkg.core.catalog.sync_queries import rows_for_keys
from orchestration_pkg.core.config import AnyIntegrationConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.engine_plan import ListedItem
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import (
    JobStatus,
    ManifestFlags,
    MediaMetadata,
    ObjectInfo,
)
from orchestration_pkg.core.notifications.batches import apply_batch
from orchestration_pkg.core.notifications.consumer import target_for
from orchestration_pkg.core.registration import with_policies
from orchestration_pkg.core.sync import sync_integration
from orchestration_pkg.sensors.watch_sensor import build_watch_sensor

from .folder_results import (
    CHECK_NAME,
    folder_totals,
    job_metadata,
    preview_rows,
    registration_failure,
    unit_errors_check,
)
from .naming import DEFAULT_NAMES, DefinitionNames
from .translator import CatalogFolder, CatalogTranslator, folder_asset_args, op_name_for

SYNC_CRON = "0 3 * * *"


class WatchBatchConfig(Config):
    """The batch a run registers (filled in by the watch sensor)."""

    keys: list[str] = Field(default_factory=list, description="full object keys, in order")
    etags: list[str] = Field(default_factory=list, description="listed ETags, same order")
    sizes: list[int] = Field(default_factory=list, description="listed sizes (-1: unknown)")
    events: bool = Field(
        default=False, description="notifications: apply this partition's events in the inbox"
    )


@dataclass
class _Batch:
    """The engine's row source for one batch: the listed objects, no listing."""

    items: list[ListedItem]
    flags: ManifestFlags = field(default_factory=ManifestFlags)

    def __iter__(self):
        return iter(self.items)


def batch_items(
    storage: Any, config: WatchBatchConfig, known: dict[str, dict[str, Any]] | None = None
) -> list[ListedItem]:
    """The batch's objects as listed rows; a changed object keeps what a manifest once gave
    it (``known``: its current catalog row by key, as a prefix sync does)."""
    items, known = [], known or {}
    for row, key in enumerate(config.keys, start=1):
        etag = config.etags[row - 1] if row <= len(config.etags) else ""
        size = config.sizes[row - 1] if row <= len(config.sizes) else -1
        info = ObjectInfo(key=key, etag=etag or None, size=size if size >= 0 else None)
        url = storage.canonical_url(key)
        current = known.get(key)
        if current is not None and current["object_url"] != url:
            current = None
        items.append(
            ListedItem(
                row=row,
                url=url,
                title=current["title"] if current else None,
                external_id=current["external_id"] if current else None,
                client_metadata=dict(current["client_metadata"] or {}) if current else {},
                given=MediaMetadata(file_size=info.size),
                listed=info,
            )
        )
    return items


def build_folder_asset(
    folder: CatalogFolder,
    translator: CatalogTranslator,
    partitions: DynamicPartitionsDefinition,
    names: DefinitionNames = DEFAULT_NAMES,
) -> AssetsDefinition:
    """The catalog folder a ``watch:`` block fills, one partition per registered batch."""
    cfg, watch = folder.integration, folder.watch
    assert cfg is not None and watch is not None
    spec = translator.get_asset_spec(folder).replace_attributes(partitions_def=partitions)
    check_spec = translator.get_check_spec(folder, spec.key)
    op_name = op_name_for(spec.key)

    @multi_asset(
        name=op_name,
        **folder_asset_args(spec),
        check_specs=[check_spec],
        required_resource_keys={names.resource_key},
    )
    def _folder(context: AssetExecutionContext, config: WatchBatchConfig) -> MaterializeResult:
        platform = names.platform(context)
        storage, catalog = platform.storage(cfg.name), platform.catalog()
        opts = with_policies(
            platform.app_config(),
            cfg,
            folder.name,
            RegistrationOptions(ignore_errors=watch.ignore_errors, run_id=context.run.run_id),
        )
        if not (config.keys or config.events) and context.has_partition_key:
            config = _sensor_batch(context, op_name) or config  # "Materialize" in the UI
        if config.events:
            return _apply_events(context, catalog, storage, folder, spec.key, opts)
        if not config.keys:
            raise Failure(
                description="no keys in the run config and no earlier run of this partition: "
                f"batches come from the watch sensor {names.watch_sensor(cfg.name)}"
            )
        name = f"watch {storage.canonical_url(config.keys[0])} (+{len(config.keys) - 1})"
        known = _known(catalog, folder.name, cfg.name, config.keys)
        result = RegistrationEngine(catalog, storage).register(
            _Batch(batch_items(storage, config, known)), folder.name, opts, manifest_name=name
        )
        context.log.info(
            "batch %s: job %s %s, %d registered, %d failed",
            context.partition_key,
            result.job_id,
            result.status.value,
            result.registered,
            result.failed,
        )
        if result.status is not JobStatus.DONE:
            raise registration_failure(result)
        rows = preview_rows(catalog, folder.name, cfg.name, config.keys)
        return MaterializeResult(
            asset_key=spec.key,
            metadata=job_metadata(result, rows, folder_totals(catalog, folder.name)),
            check_results=[unit_errors_check(result, folder.policy.check, spec.key)],
        )

    return _folder


def _sensor_batch(context: AssetExecutionContext, op_name: str) -> WatchBatchConfig | None:
    """The batch the sensor gave this partition: the run config of its newest run that has
    one. A partition materialized from the UI or a backfill (no run config) registers it again,
    as a re-execution of that run would."""
    runs = context.instance.get_runs(
        RunsFilter(tags={"dagster/partition": context.partition_key}), limit=50
    )
    for run in runs:
        ops = (run.run_config or {}).get("ops") or {}
        given = (ops.get(op_name) or {}).get("config") or {}
        if given.get("keys") or given.get("events"):
            context.log.info("batch %s: its keys from run %s", context.partition_key, run.run_id)
            return WatchBatchConfig(**given)
    return None


def _apply_events(
    context: AssetExecutionContext,
    catalog: Any,
    storage: Any,
    folder: CatalogFolder,
    asset_key: AssetKey,
    opts: RegistrationOptions,
) -> MaterializeResult:
    """A notification batch: its pending inbox events applied, then marked done."""
    cfg = folder.integration
    assert cfg is not None
    target = target_for(cfg)
    outcome = apply_batch(catalog, storage, target, context.partition_key, opts)
    job = outcome.job
    context.log.info(
        "events batch %s: %d pending event(s), %d superseded, job %s",
        context.partition_key,
        outcome.events,
        outcome.superseded,
        f"{job.job_id} {job.status.value}" if job else "none",
    )
    counts = {"events": outcome.events, "superseded": outcome.superseded}
    if job is None:  # applied before (a re-execution), or only older events than applied ones
        return MaterializeResult(
            asset_key=asset_key,
            metadata={**counts, "job_id": ""},
            check_results=[
                AssetCheckResult(asset_key=asset_key, check_name=CHECK_NAME, passed=True)
            ],
        )
    if job.status is not JobStatus.DONE:
        raise registration_failure(job)
    rows = preview_rows(catalog, target.folder, cfg.name, outcome.created_keys)
    metadata = {
        **job_metadata(job, rows, folder_totals(catalog, target.folder)),
        **counts,
        "removed": outcome.removed,
    }
    return MaterializeResult(
        asset_key=asset_key,
        metadata=metadata,
        check_results=[unit_errors_check(job, folder.policy.check, asset_key)],
    )


def _known(catalog: Any, folder: str, integration: str, keys: list[str]) -> dict[str, Any]:
    """The current catalog rows of ``keys`` in ``folder`` (none when it does not exist yet)."""
    try:
        folder_id = catalog.get_folder(folder).id
    except NotFoundError:
        return {}
    return {r["key"]: r for r in rows_for_keys(catalog, folder_id, integration, keys)}


def build_sync_job(
    cfg: AnyIntegrationConfig, names: DefinitionNames = DEFAULT_NAMES
) -> JobDefinition:
    """A job running a full prefix sync of the watch folder (applies ``on_delete``)."""
    watch = cfg.watch
    assert watch is not None

    @op(name=names.sync_op(cfg.name), required_resource_keys={names.resource_key})
    def _sync(context: OpExecutionContext) -> None:
        platform = names.platform(context)
        result = sync_integration(
            platform.app_config(),
            cfg.name,
            options=RegistrationOptions(ignore_errors=watch.ignore_errors),
            catalog=platform.catalog(),
            storage=platform.storage(cfg.name),
        )
        context.log.info("sync %s", result.as_json())
        if result.job.status is not JobStatus.DONE:
            raise registration_failure(result.job)

    @job(
        name=names.sync_job(cfg.name),
        description="full sync: deletions",
        tags={"orchestration_pkg/integration": cfg.name},  # the run queue's limit
    )
    def _sync_job() -> None:
        _sync()

    return _sync_job


@dataclass
class WatchDefinitions:
    """Everything the watched integrations add to ``Definitions``."""

    assets: list[Any] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)
    sensors: list[SensorDefinition] = field(default_factory=list)
    schedules: list[ScheduleDefinition] = field(default_factory=list)


def build_watch_definitions(
    folders: list[CatalogFolder],
    translator: CatalogTranslator,
    names: DefinitionNames = DEFAULT_NAMES,
) -> WatchDefinitions:
    """Folder asset, job, sensor and sync schedule of every watched folder."""
    out = WatchDefinitions()
    for folder in folders:
        cfg = folder.integration
        if cfg is None or folder.watch is None:
            continue
        partitions = DynamicPartitionsDefinition(name=names.batches(cfg.name))
        folder_asset = build_folder_asset(folder, translator, partitions, names)
        out.assets.append(folder_asset)
        name = names.watch_job(cfg.name)
        # one asset, one step: the in-process executor saves a process per batch run
        out.jobs.append(
            define_asset_job(
                name,
                selection=[folder_asset],
                executor_def=in_process_executor,
                tags={"orchestration_pkg/integration": cfg.name},  # also on UI launches
            )
        )
        out.sensors.append(
            build_watch_sensor(cfg, name, folder_asset.op.name, partitions.name, names)
        )
        sync_job = build_sync_job(cfg, names)
        out.jobs.append(sync_job)
        out.schedules.append(
            ScheduleDefinition(
                name=names.sync_schedule(cfg.name),
                cron_schedule=SYNC_CRON,
                job=sync_job,
                default_status=DefaultScheduleStatus.STOPPED,
                description=f"daily full sync of folder '{folder.name}': deletions",
            )
        )
    return out
