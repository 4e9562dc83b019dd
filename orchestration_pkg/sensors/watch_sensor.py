"""The Dagster side of ``watch:``: a sensor per watched integration that turns what changed
under the prefix into batch partitions of the folder asset, one run per batch.

**Polling** (no ``watch.notifications``): each tick makes ONE capped pass step: it lists at
most ``watch.max_keys_per_tick`` objects after the cursor's position, compares that page with
the catalog (one range query: key → ETag, size), and chunks the new or changed objects into
batches (≤ 1000 files, ≤ 100 videos). Every batch becomes one dynamic partition whose key is
derived from its content (first key + keys and ETags). When the listing ends the cursor wraps
to the start. The cursor is ``{"after": <key>, "pass": <n>}``: bounded whatever the bucket
holds. Deletions are not seen by polling: the ``watch_sync_<integration>`` schedule runs a
full prefix sync that applies ``on_delete``.

**Notifications** (``watch.notifications``): each tick receives up to ``max_messages`` queue
messages, stores their events in the catalog's inbox and only then deletes the messages
(:class:`~orchestration_pkg.core.notifications.NotificationConsumer.collect`, as
``orchestration-pkg watch`` does), cuts pending events into batches (``ev-…`` partitions) and
requests one run per pending batch; the run applies the batch and marks its events done. No
cursor: the queue and the inbox hold the state.

Both: a tick evaluated twice yields the same run keys, which Dagster launches once; a batch
whose run failed is requested again under the next attempt's run key, at most
``watch.max_batch_attempts`` runs (:mod:`.watch_attempts`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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

from orchestration_pkg.assets.naming import DEFAULT_NAMES, DefinitionNames
from orchestration_pkg.core.batching import (
    MAX_FILES_PER_BATCH,
    MAX_VIDEOS_PER_BATCH,
    is_video,
    split_batches,
)
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.core.catalog.sync_queries import etags_in_range
from orchestration_pkg.core.config import AnyIntegrationConfig
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.notifications.batches import plan_batches
from orchestration_pkg.core.notifications.consumer import INBOX_RETENTION, consumer_for
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.resources.platform import PlatformResource
from orchestration_pkg.sensors.watch_attempts import plan_attempts, run_key


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
    return [
        WatchBatch(objects=part, videos=sum(is_video(o.key) for o in part))
        for part in split_batches(objects, key=lambda o: o.key, max_files=max_files)
    ]


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


@dataclass(frozen=True)
class _SensorSpec:
    """What a watch sensor's tick needs besides the context and the platform."""

    cfg: AnyIntegrationConfig
    job_name: str
    op_name: str
    partitions_name: str

    @property
    def max_attempts(self) -> int:
        assert self.cfg.watch is not None
        return self.cfg.watch.max_batch_attempts

    def tags(self, mode: str, attempt: int, size: int) -> dict[str, str]:
        return {
            "orchestration_pkg/integration": self.cfg.name,
            "orchestration_pkg/watch_mode": mode,
            "orchestration_pkg/watch_attempt": str(attempt),
            "orchestration_pkg/batch_files": str(size),
        }

    def result(
        self, requests: list[RunRequest], skip: str, cursor: str | None = None
    ) -> SensorResult:
        if not requests:
            return SensorResult(skip_reason=SkipReason(skip), cursor=cursor)
        keys = [r.partition_key for r in requests if r.partition_key]
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[AddDynamicPartitionsRequest(self.partitions_name, keys)],
            cursor=cursor,
        )


def _polling_tick(
    context: SensorEvaluationContext, platform: PlatformResource, spec: _SensorSpec
) -> SensorResult:
    cursor = WatchCursor.load(context.cursor)
    batches, new, listed = plan_tick(
        platform.storage(spec.cfg.name), platform.catalog(), spec.cfg, cursor
    )
    by_key = {b.partition_key: b for b in batches}
    plan = plan_attempts(context.instance, spec.job_name, by_key, spec.max_attempts)
    for key, reason in plan.give_up.items():
        first = by_key[key].objects[0].key
        context.log.warning(f"watch {spec.cfg.name}: batch {key} (first key {first!r}) {reason}")
    requests = [
        RunRequest(
            run_key=run_key(key, attempt),
            partition_key=key,
            run_config={"ops": {spec.op_name: {"config": by_key[key].config()}}},
            tags={
                **spec.tags("polling", attempt, len(by_key[key].objects)),
                "orchestration_pkg/watch_pass": str(cursor.passes),
            },
        )
        for key, attempt in plan.request
    ]
    skip = f"{listed} object(s) listed, none new or changed"
    if batches:
        skip = (
            f"{listed} object(s) listed; {len(plan.running)} batch(es) running, "
            f"{len(plan.give_up)} given up"
        )
    return spec.result(requests, skip, new.dump())


def _events_tick(
    context: SensorEvaluationContext, platform: PlatformResource, spec: _SensorSpec
) -> SensorResult:
    cfg, catalog = spec.cfg, platform.catalog()
    assert cfg.watch is not None
    consumer = consumer_for(cfg, catalog, platform.storage(cfg.name))
    target = consumer.target
    drained = consumer.new_result()
    consumer.collect(drained)  # events in the inbox first, then the messages deleted
    ib.prune(catalog, target.integration, target.folder, INBOX_RETENTION)
    plan_batches(catalog, target, cfg.watch.max_keys_per_tick)
    pending = {p.batch: p for p in ib.pending_batches(catalog, target.integration, target.folder)}
    plan = plan_attempts(context.instance, spec.job_name, pending, spec.max_attempts)
    gave_up = 0
    for key, reason in plan.give_up.items():
        gave_up += consumer.give_up(key, f"{reason}; run `orchestration-pkg sync {cfg.name}`")
        context.log.warning(f"watch {cfg.name}: batch {key} {reason}")
    requests = [
        RunRequest(
            run_key=run_key(key, attempt),
            partition_key=key,
            run_config={"ops": {spec.op_name: {"config": {"events": True}}}},
            tags=spec.tags("notifications", attempt, pending[key].events),
        )
        for key, attempt in plan.request
    ]
    summary = (
        f"{drained.messages} message(s), {drained.stored} new event(s), {drained.ignored} "
        f"ignored, {drained.poison} poison; {len(pending)} batch(es) pending, "
        f"{len(plan.running)} running, {len(plan.give_up)} given up ({gave_up} event(s))"
    )
    context.log.info(f"watch {cfg.name}: {summary}")
    return spec.result(requests, summary)


def build_watch_sensor(
    cfg: AnyIntegrationConfig,
    job_name: str,
    op_name: str,
    partitions_name: str,
    names: DefinitionNames = DEFAULT_NAMES,
) -> SensorDefinition:
    """``watch_sensor_<integration>``: batch partitions + run requests, one capped step a tick
    (bucket notifications when ``watch.notifications`` is set, else a capped listing)."""
    watch = cfg.watch
    assert watch is not None
    spec = _SensorSpec(cfg, job_name, op_name, partitions_name)
    source = "drains the bucket's event queue" if watch.notifications else "polls"
    tick: Any = _events_tick if watch.notifications else _polling_tick

    @sensor(
        name=names.watch_sensor(cfg.name),
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"{source.capitalize()} for {cfg.location()}{watch.prefix} and registers new or "
            f"changed objects into folder '{watch.folder}', one batch partition per run "
            f"(integration {cfg.name})"
        ),
        required_resource_keys={names.resource_key},
    )
    def _watch_sensor(context: SensorEvaluationContext, **_resources: Any):
        return tick(context, names.platform(context), spec)

    return _watch_sensor


__all__ = [
    "MAX_FILES_PER_BATCH",
    "MAX_VIDEOS_PER_BATCH",
    "WatchBatch",
    "WatchCursor",
    "build_watch_sensor",
    "chunk",
    "ident",
    "plan_tick",
]
