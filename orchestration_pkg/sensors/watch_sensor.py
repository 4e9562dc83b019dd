"""The polling side of ``watch:``: a sensor per watched integration that turns new and changed
objects into batch partitions of the folder asset.

Each tick makes ONE capped pass: it lists at most ``watch.max_keys_per_tick`` objects after the
cursor's position, compares that page with the catalog (one range query: key → ETag, size),
and chunks the new or changed objects into batches within the engine's limits (≤ 1000 files,
≤ 100 videos). Every batch becomes one dynamic partition whose key is derived from its content
(first key + keys and ETags), and one run request with that key as run key: a tick evaluated
twice yields the same run keys, which Dagster launches once. When the listing ends the cursor
wraps to the start. The cursor is ``{"after": <key>, "pass": <n>}``: bounded whatever the
bucket holds. Deletions are not seen by polling: the ``watch_sync_<integration>`` schedule
runs a full prefix sync that applies ``on_delete``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog.sync_queries import etags_in_range
from orchestration_pkg.core.config import AnyIntegrationConfig
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.manifest import guess_media_kind
from orchestration_pkg.core.models import MediaKind, ObjectInfo
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.resources.platform import PlatformResource

_LIMITS = RegistrationOptions()
MAX_FILES_PER_BATCH = _LIMITS.max_images_per_batch
MAX_VIDEOS_PER_BATCH = _LIMITS.max_videos_per_batch


def ident(name: str) -> str:
    """An integration name as a Dagster name part (letters, digits, underscores)."""
    return name.replace("-", "_").replace(".", "_")


@dataclass
class WatchCursor:
    """Where the current pass stopped (``after``) and how many passes have ended."""

    after: str = ""
    passes: int = 0

    @classmethod
    def load(cls, raw: str | None) -> WatchCursor:
        data = json.loads(raw) if raw else {}
        return cls(after=str(data.get("after", "")), passes=int(data.get("pass", 0)))

    def dump(self) -> str:
        return json.dumps({"after": self.after, "pass": self.passes}, separators=(",", ":"))


@dataclass
class WatchBatch:
    """New or changed objects registered together: one partition, one run."""

    objects: list[ObjectInfo] = field(default_factory=list)
    videos: int = 0

    @property
    def partition_key(self) -> str:
        """``<first key hash>-<hash of keys + ETags + sizes>``: the same batch, the same key."""
        digest = hashlib.sha1()
        for o in self.objects:
            digest.update(f"{o.key}\0{o.etag or ''}\0{o.size or 0}\n".encode())
        first = hashlib.sha1(self.objects[0].key.encode()).hexdigest()[:8]
        return f"{first}-{digest.hexdigest()[:12]}"

    def config(self) -> dict[str, list]:
        return {
            "keys": [o.key for o in self.objects],
            "etags": [o.etag or "" for o in self.objects],
            "sizes": [o.size if o.size is not None else -1 for o in self.objects],
        }


def chunk(objects: Iterable[ObjectInfo], max_files: int = MAX_FILES_PER_BATCH) -> list[WatchBatch]:
    """Objects in listing order → batches of ≤ ``max_files`` (≤ MAX_FILES_PER_BATCH) files,
    ≤ MAX_VIDEOS_PER_BATCH videos."""
    max_files = min(max_files, MAX_FILES_PER_BATCH)
    batches: list[WatchBatch] = []
    batch = WatchBatch()
    for info in objects:
        video = guess_media_kind(info.key) is MediaKind.VIDEO
        if batch.objects and (
            len(batch.objects) >= max_files or (video and batch.videos >= MAX_VIDEOS_PER_BATCH)
        ):
            batches.append(batch)
            batch = WatchBatch()
        batch.objects.append(info)
        batch.videos += video
    if batch.objects:
        batches.append(batch)
    return batches


def _changed(info: ObjectInfo, known: tuple[str | None, int | None] | None) -> bool:
    if known is None:
        return True
    etag, size = known
    if info.size is not None and size is not None and info.size != size:
        return True
    return bool(info.etag and etag and info.etag != etag)


def plan_tick(
    storage: Storage,
    catalog: Catalog,
    cfg: AnyIntegrationConfig,
    cursor: WatchCursor,
) -> tuple[list[WatchBatch], WatchCursor, int]:
    """One capped pass step: (batches of new/changed objects, next cursor, objects listed)."""
    watch = cfg.watch
    assert watch is not None and watch.folder
    page: list[ObjectInfo] = []
    exhausted = True
    for info in storage.list(watch.prefix, start_after=cursor.after):
        if info.key.endswith("/") and not info.size:  # "folder" placeholder objects
            continue
        page.append(info)
        if len(page) >= watch.max_keys_per_tick:
            exhausted = False
            break
    if exhausted:
        new = WatchCursor(after="", passes=cursor.passes + 1)
    else:
        new = WatchCursor(after=page[-1].key, passes=cursor.passes)
    if not page:
        return [], new, 0
    try:
        folder_id = catalog.get_folder(watch.folder).id
    except NotFoundError:
        known: dict[str, tuple[str | None, int | None]] = {}
    else:
        known = etags_in_range(catalog, folder_id, cfg.name, page[0].key, page[-1].key)
    todo = [info for info in page if _changed(info, known.get(info.key))]
    return chunk(todo, watch.batch_size), new, len(page)


def build_watch_sensor(
    cfg: AnyIntegrationConfig, job_name: str, op_name: str, partitions_name: str
) -> SensorDefinition:
    """``watch_sensor_<integration>``: batch partitions + run requests, one capped pass a tick
    (``op_name``: the folder asset's op, whose config carries the batch)."""
    watch = cfg.watch
    assert watch is not None

    @sensor(
        name=f"watch_sensor_{ident(cfg.name)}",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"Polls {cfg.location()}{watch.prefix} and registers new or changed objects into "
            f"folder '{watch.folder}', one batch partition per run (integration {cfg.name})"
        ),
    )
    def _watch_sensor(context: SensorEvaluationContext, platform: PlatformResource):
        storage = platform.storage(cfg.name)
        cursor = WatchCursor.load(context.cursor)
        batches, new, listed = plan_tick(storage, platform.catalog(), cfg, cursor)
        keys = [b.partition_key for b in batches]
        requests = [
            RunRequest(
                run_key=key,
                partition_key=key,
                run_config={"ops": {op_name: {"config": batch.config()}}},
                tags={
                    "orchestration_pkg/integration": cfg.name,
                    "orchestration_pkg/watch_pass": str(cursor.passes),
                    "orchestration_pkg/batch_files": str(len(batch.objects)),
                },
            )
            for key, batch in zip(keys, batches, strict=True)
        ]
        if not requests:
            return SensorResult(
                skip_reason=SkipReason(f"{listed} object(s) listed, none new or changed"),
                cursor=new.dump(),
            )
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[AddDynamicPartitionsRequest(partitions_name, keys)],
            cursor=new.dump(),
        )

    return _watch_sensor
