"""Dagster side of ``watch:``: per watched integration, an observable bucket prefix, a catalog
folder asset partitioned by batch, its sensor, and a daily full sync for deletions.

The folder asset's partitions are batches, never files (a dynamic partition per batch the
watch sensor found, see :mod:`orchestration_pkg.sensors.watch_sensor`). Materializing one
registers exactly the batch's keys (given in the run config by the sensor) through the engine,
as listed objects: no listing, no manifest.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    DataVersion,
    DefaultScheduleStatus,
    DynamicPartitionsDefinition,
    Failure,
    JobDefinition,
    MaterializeResult,
    MetadataValue,
    ObserveResult,
    OpExecutionContext,
    ScheduleDefinition,
    SensorDefinition,
    asset,
    define_asset_job,
    job,
    observable_source_asset,
    op,
)
from pydantic import Field

from orchestration_pkg.assets.registration import metadata_table
from orchestration_pkg.assets.watch_translator import WatchTranslator, is_watched
from orchestration_pkg.core.catalog.sync_queries import rows_for_keys
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.engine_plan import ListedItem
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import (
    JobResult,
    JobStatus,
    ManifestFlags,
    MediaMetadata,
    ObjectInfo,
)
from orchestration_pkg.core.registration import with_policies
from orchestration_pkg.core.sync import sync_integration
from orchestration_pkg.resources.platform import PlatformResource
from orchestration_pkg.sensors.watch_sensor import build_watch_sensor, ident

OBSERVE_CAP = 1000  # objects an observation looks at: the first listing page, never more
PREVIEW_ROWS = 50
FAILURE_ERRORS = 20
SYNC_CRON = "0 3 * * *"


class WatchBatchConfig(Config):
    """The batch a run registers (filled in by the watch sensor)."""

    keys: list[str] = Field(default_factory=list, description="full object keys, in order")
    etags: list[str] = Field(default_factory=list, description="listed ETags, same order")
    sizes: list[int] = Field(default_factory=list, description="listed sizes (-1: unknown)")


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


def build_bucket_asset(cfg: AnyIntegrationConfig, translator: WatchTranslator) -> Any:
    """Observable source asset of the watched prefix: a cheap DataVersion of its first page."""
    watch = cfg.watch
    assert watch is not None

    @observable_source_asset(
        key=translator.get_source_asset_key(cfg),
        group_name=translator.get_group_name(cfg),
        description=f"Objects under {cfg.location()}{watch.prefix} (observed, never copied)",
        kinds={str(cfg.provider)},
        required_resource_keys={"platform"},
    )
    def _bucket(context) -> ObserveResult:
        platform: PlatformResource = context.resources.platform
        digest, count, newest = hashlib.sha1(), 0, None
        for info in platform.storage(cfg.name).list(watch.prefix):
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


def build_folder_asset(
    cfg: AnyIntegrationConfig, translator: WatchTranslator, partitions: DynamicPartitionsDefinition
) -> AssetsDefinition:
    """The catalog folder of ``watch.folder``, one partition per registered batch."""
    watch = cfg.watch
    assert watch is not None and watch.folder
    folder, key = watch.folder, translator.get_asset_key(cfg)

    @asset(
        key=key,
        deps=[translator.get_source_asset_key(cfg)],
        partitions_def=partitions,
        group_name=translator.get_group_name(cfg),
        description=translator.get_description(cfg),
        owners=translator.get_owners(cfg),
        tags=translator.get_tags(cfg),
        kinds=translator.get_kinds(cfg),
        automation_condition=translator.get_automation_condition(cfg),
        check_specs=[
            AssetCheckSpec(
                "no_unit_errors", asset=key, description="fails when a file of the batch failed"
            )
        ],
    )
    def _folder(
        context: AssetExecutionContext, config: WatchBatchConfig, platform: PlatformResource
    ) -> MaterializeResult:
        if not config.keys:
            raise Failure(description="no keys in the run config: batches come from the sensor")
        storage, catalog = platform.storage(cfg.name), platform.catalog()
        opts = with_policies(
            platform.app_config(),
            cfg,
            folder,
            RegistrationOptions(ignore_errors=watch.ignore_errors, run_id=context.run.run_id),
        )
        name = f"watch {storage.canonical_url(config.keys[0])} (+{len(config.keys) - 1})"
        result = RegistrationEngine(catalog, storage).register(
            _Batch(batch_items(storage, config, _known(catalog, folder, cfg.name, config.keys))),
            folder,
            opts,
            manifest_name=name,
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
            raise _failure(result)
        rows = rows_for_keys(
            catalog, catalog.get_folder(folder).id, cfg.name, config.keys[:PREVIEW_ROWS]
        )
        check = AssetCheckResult(
            check_name="no_unit_errors",
            passed=result.failed == 0,
            severity=AssetCheckSeverity.ERROR,
            metadata={"failed": result.failed, "job_id": result.job_id},
        )
        return MaterializeResult(metadata=_metadata(result, rows), check_results=[check])

    return _folder


def _known(catalog: Any, folder: str, integration: str, keys: list[str]) -> dict[str, Any]:
    """The current catalog rows of ``keys`` in ``folder`` (none when it does not exist yet)."""
    try:
        folder_id = catalog.get_folder(folder).id
    except NotFoundError:
        return {}
    return {r["key"]: r for r in rows_for_keys(catalog, folder_id, integration, keys)}


def _failure(result: JobResult) -> Failure:
    first = result.unit_errors[:FAILURE_ERRORS]
    reasons = [result.error] if result.error else []
    reasons += [f"first error: {first[0].url}: {first[0].error}"] if first else []
    return Failure(
        description=f"registration job {result.job_id} {result.status.value}: "
        + ("; ".join(reasons) or "see the job's unit errors"),
        metadata={"job_id": result.job_id, "failed": result.failed, **_errors(result)},
    )


def _errors(result: JobResult) -> dict[str, MetadataValue]:
    if not result.unit_errors:
        return {}
    return {
        "unit_errors": metadata_table(
            [("url", "string"), ("code", "string"), ("transient", "bool"), ("error", "string")],
            [
                {"url": e.url, "code": e.code, "transient": e.transient, "error": e.error}
                for e in result.unit_errors
            ],
        )
    }


def _size(row: dict[str, Any]) -> str:
    md = row.get("media_metadata") or {}
    parts = [f"{row['width']}×{row['height']}"] if row.get("width") else []
    parts += [f"{float(md['duration']):.1f}s"] if md.get("duration") else []
    return " ".join(parts)


def _metadata(result: JobResult, rows: list[dict[str, Any]]) -> dict[str, Any]:
    preview = metadata_table(
        [("key", "string"), ("kind", "string"), ("size", "int"), ("dimensions", "string")],
        [
            {"key": r["key"], "kind": r["media_kind"] or "", "size": r["size"] or 0}
            | {"dimensions": _size(r)}
            for r in rows
        ],
    )
    summary = (
        f"**job** `{result.job_id}` ({result.status.value}) into `{result.folder}`: "
        f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.failed} failed"
    )
    return {
        "job_id": result.job_id,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "failed": result.failed,
        "bytes_read": MetadataValue.int(result.bytes_read),
        "requests": result.requests,
        "preview": preview,
        "summary": MetadataValue.md(summary),
        **_errors(result),
    }


def build_sync_job(cfg: AnyIntegrationConfig) -> JobDefinition:
    """A job running a full prefix sync of the watch folder (applies ``on_delete``)."""
    watch = cfg.watch
    assert watch is not None

    @op(name=f"watch_sync_op_{ident(cfg.name)}")
    def _sync(context: OpExecutionContext, platform: PlatformResource) -> None:
        result = sync_integration(
            platform.app_config(),
            cfg.name,
            options=RegistrationOptions(ignore_errors=watch.ignore_errors),
            catalog=platform.catalog(),
            storage=platform.storage(cfg.name),
        )
        context.log.info("sync %s", result.as_json())
        if result.job.status is not JobStatus.DONE:
            raise _failure(result.job)

    @job(name=f"watch_sync_job_{ident(cfg.name)}", description="full sync: deletions")
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
    config: AppConfig, translator: WatchTranslator | None = None
) -> WatchDefinitions:
    """Assets, jobs, sensor and schedule of every integration with ``watch:`` (and a folder)."""
    translator = translator or WatchTranslator()
    out = WatchDefinitions()
    for cfg in config.integrations:
        if not is_watched(cfg):
            continue
        partitions = DynamicPartitionsDefinition(name=f"{ident(cfg.name)}_batches")
        folder_asset = build_folder_asset(cfg, translator, partitions)
        out.assets += [build_bucket_asset(cfg, translator), folder_asset]
        name = f"watch_job_{ident(cfg.name)}"
        out.jobs.append(define_asset_job(name, selection=[folder_asset]))
        out.sensors.append(
            build_watch_sensor(cfg, name, translator.get_asset_key(cfg), partitions.name)
        )
        sync_job = build_sync_job(cfg)
        out.jobs.append(sync_job)
        out.schedules.append(
            ScheduleDefinition(
                name=f"watch_sync_{ident(cfg.name)}",
                cron_schedule=SYNC_CRON,
                job=sync_job,
                default_status=DefaultScheduleStatus.STOPPED,
                description=f"daily full sync of folder '{cfg.watch.folder}': deletions",
            )
        )
    return out
