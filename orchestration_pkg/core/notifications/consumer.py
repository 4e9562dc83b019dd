"""One drain of a bucket's event queue: receive → parse → reduce → one job → delete messages.

At-least-once, nothing lost: a message is deleted from its queue only after the job that
registered its objects (and applied its deletions) committed, or recorded them as unit
errors. A crash or a failed job before that leaves the messages in the queue: they come back
after their visibility timeout and the next drain registers the same objects again, which
upserts the same rows (idempotent). No listing: created keys go to the engine as
:class:`ListedItem` rows carrying the event's size and ETag (``fetch`` as for ``sync``:
``auto`` probes media metadata, ``head`` HEADs, ``none`` trusts the event); deleted keys get
the watch's ``on_delete`` in short transactions after the job's writes committed.

Unreadable messages are poison: counted, logged by id (never their body, which may carry
signed URLs), and deleted (``poison: delete``) or left to the queue's dead-letter policy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog.sync_queries import delete_rows, mark_removed, rows_for_urls
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.engine_plan import ListedItem
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.models import (
    JobResult,
    JobStatus,
    ManifestFlags,
    MediaMetadata,
    ObjectInfo,
)
from orchestration_pkg.core.notifications.events import (
    BucketEvent,
    PoisonMessage,
    reduce_events,
)
from orchestration_pkg.core.providers.base import Notifications, OnDelete
from orchestration_pkg.core.registration import build_storage, with_policies
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.urls import redact_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueMessage:
    """A received message: its id, the handle that deletes it, and its text."""

    id: str
    handle: str
    body: str = field(repr=False)  # may carry signed URLs: never shown


class EventQueue(Protocol):
    """A queue of bucket events (:class:`~.s3_sqs.SqsQueue`, :class:`~.azure_queue.AzureQueue`)."""

    kind: str

    @property
    def name(self) -> str: ...

    def receive(self, limit: int) -> list[QueueMessage]: ...

    def parse(self, message: QueueMessage, arrival: int) -> list[BucketEvent]: ...

    def delete(self, messages: list[QueueMessage]) -> int: ...


@dataclass
class WatchResult:
    """What one watch evaluation did (a drain, or a polling sync)."""

    mode: str  # notifications | polling
    folder: str
    integration: str
    prefix: str
    job: JobResult | None = None
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    listed: int | None = None
    messages: int = 0
    poison: int = 0
    events: int = 0
    ignored: int = 0
    deleted_messages: int = 0

    @property
    def status(self) -> str:
        return self.job.status.value if self.job else "IDLE"

    def as_json(self) -> dict[str, Any]:
        job = self.job
        data: dict[str, Any] = {
            "job_id": job.job_id if job else None,
            "status": self.status,
            "mode": self.mode,
            "folder": self.folder,
            "integration": self.integration,
            "prefix": self.prefix,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "error": job.error if job else None,
            "unit_errors": [{"url": e.url, "error": e.error} for e in job.unit_errors]
            if job
            else [],
        }
        if self.mode == "polling":
            data["listed"] = self.listed
        else:
            data.update(
                messages=self.messages,
                poison=self.poison,
                events=self.events,
                ignored=self.ignored,
                deleted_messages=self.deleted_messages,
            )
        return data


@dataclass
class _EventItems:
    """The engine's row source: one :class:`ListedItem` per created/overwritten key."""

    storage: Storage
    events: list[BucketEvent]
    flags: ManifestFlags = field(default_factory=ManifestFlags)

    def __iter__(self) -> Iterator[ListedItem]:
        for number, event in enumerate(self.events, start=1):
            yield ListedItem(
                row=number,
                url=self.storage.canonical_url(event.key),
                given=MediaMetadata(file_size=event.size),
                listed=ObjectInfo(
                    key=event.key, size=event.size, etag=event.etag, last_modified=event.time
                ),
            )


class NotificationConsumer:
    """Drains one queue into one folder for one storage integration."""

    def __init__(
        self,
        catalog: Catalog,
        storage: Storage,
        queue: EventQueue,
        *,
        folder: str,
        bucket: str,
        key_prefix: str,
        on_delete: OnDelete = "mark",
        settings: Notifications,
    ) -> None:
        self.catalog = catalog
        self.storage = storage
        self.queue = queue
        self.folder = folder
        self.bucket = bucket
        self.key_prefix = key_prefix
        self.on_delete = on_delete
        self.settings = settings

    def receive(self) -> list[QueueMessage]:
        """Up to ``max_messages`` distinct messages (the latest handle of a redelivered one)."""
        seen: dict[str, QueueMessage] = {}
        cap = self.settings.max_messages
        while len(seen) < cap:
            batch = self.queue.receive(cap - len(seen))
            fresh = [m for m in batch if m.id not in seen]
            for message in batch:
                seen[message.id] = message
            if not fresh:
                break
        return list(seen.values())

    def drain(self, options: RegistrationOptions | None = None) -> WatchResult:
        """One evaluation: see the module docstring."""
        result = WatchResult(
            mode="notifications",
            folder=self.folder,
            integration=self.storage.name,
            prefix=self.key_prefix,
        )
        messages = self.receive()
        result.messages = len(messages)
        events: list[BucketEvent] = []
        good: list[QueueMessage] = []
        poison: list[QueueMessage] = []
        for arrival, message in enumerate(messages):
            try:
                parsed = self.queue.parse(message, arrival)
            except PoisonMessage as exc:
                log.warning("poison message %s on %s: %s", message.id, self.queue.name, exc)
                poison.append(message)
                continue
            except Exception as exc:  # never let one message stop the consumer
                log.warning(
                    "poison message %s on %s: %s", message.id, self.queue.name, type(exc).__name__
                )
                poison.append(message)
                continue
            events.extend(parsed)
            good.append(message)
        result.poison = len(poison)
        result.events = len(events)
        relevant = [e for e in events if self._in_scope(e)]
        result.ignored = len(events) - len(relevant)
        last = reduce_events(relevant)
        created = sorted((e for e in last.values() if not e.deleted), key=lambda e: e.key)
        gone = sorted((e for e in last.values() if e.deleted), key=lambda e: e.key)
        if created or gone:
            result.job = self._register(created, gone, options, result)
        done = result.job is None or result.job.status is JobStatus.DONE
        # at-least-once: a failed job leaves its messages for redelivery
        to_delete = (good if done else []) + (poison if self.settings.poison == "delete" else [])
        if to_delete:
            result.deleted_messages = self.queue.delete(to_delete)
        return result

    def _in_scope(self, event: BucketEvent) -> bool:
        return (
            event.bucket == self.bucket
            and event.key.startswith(self.key_prefix)
            and not event.key.endswith("/")  # "folder" markers are not files
        )

    def _register(
        self,
        created: list[BucketEvent],
        gone: list[BucketEvent],
        options: RegistrationOptions | None,
        result: WatchResult,
    ) -> JobResult:
        def finalize(job: JobResult) -> None:
            removed = self._apply_deletions(gone)
            result.removed = removed
            job.stats = {**job.stats, "events": len(created) + len(gone), "removed": removed}

        engine = RegistrationEngine(self.catalog, self.storage)
        job = engine.register(
            _EventItems(self.storage, created),
            self.folder,
            options,
            manifest_name=f"watch {redact_url(self.storage.canonical_url(self.key_prefix))}",
            finalize=finalize,
        )
        if job.status is JobStatus.DONE:
            result.added, result.updated, result.unchanged = job.created, job.updated, job.unchanged
        result.failed = job.failed
        return job

    def _apply_deletions(self, gone: list[BucketEvent]) -> int:
        if not gone or self.on_delete == "keep":
            return 0
        folder_id = self.catalog.get_folder(self.folder).id
        urls = [self.storage.canonical_url(e.key) for e in gone]
        rows = list(rows_for_urls(self.catalog, folder_id, self.storage.name, urls))
        if self.on_delete == "remove":
            return delete_rows(self.catalog, [r.id for r in rows])
        return mark_removed(self.catalog, [r.id for r in rows if r.removed_at is None])


def make_queue(cfg: AnyIntegrationConfig, storage: Storage, settings: Notifications) -> EventQueue:
    """The event queue of an integration's ``watch.notifications``."""
    provider = cfg.provider
    if provider == "s3" and settings.queue_url:
        from orchestration_pkg.core.notifications.s3_sqs import SqsQueue

        return SqsQueue.for_storage(storage, settings)
    if provider == "azure" and settings.queue_name:
        from orchestration_pkg.core.notifications.azure_queue import AzureQueue

        return AzureQueue.for_storage(storage, settings)
    want = {"s3": "queue_url (SQS)", "azure": "queue_name (storage queue)"}.get(str(provider))
    if want is None:
        raise ConfigError(
            f"integration '{cfg.name}' ({provider}): bucket notifications are S3 (SQS) and "
            "Azure (Event Grid → storage queue) only; remove watch.notifications to poll"
        )
    raise ConfigError(f"integration '{cfg.name}': watch.notifications needs {want}")


def watch_integration(
    config: AppConfig,
    integration: str | None = None,
    *,
    options: RegistrationOptions | None = None,
    catalog: Catalog | None = None,
    storage: Storage | None = None,
    queue: EventQueue | None = None,
) -> WatchResult:
    """One watch evaluation: drain the notifications if configured, else one polling sync."""
    from orchestration_pkg.core.sync import resolve_target, sync_integration

    cfg = config.integration(integration or (storage.name if storage else None))
    settings = cfg.watch.notifications if cfg.watch else None
    if settings is None:
        synced = sync_integration(
            config, cfg.name, options=options, catalog=catalog, storage=storage
        )
        job = synced.job
        return WatchResult(
            mode="polling",
            folder=job.folder,
            integration=job.integration,
            prefix=synced.prefix,
            job=job,
            added=synced.added,
            updated=synced.updated,
            removed=synced.removed,
            unchanged=synced.unchanged,
            failed=synced.failed,
            listed=synced.listed,
        )
    root = cfg.listing_root()
    if root is None:
        raise ConfigError(f"integration '{cfg.name}' has no bucket to watch")
    bucket, base_prefix = root
    folder, rel_prefix, mode = resolve_target(cfg, None, None, None)
    storage = storage or build_storage(cfg)
    opts = with_policies(config, cfg, folder, options)
    own_catalog = catalog is None
    catalog = catalog or Catalog.for_config(config)
    try:
        consumer = NotificationConsumer(
            catalog,
            storage,
            queue or make_queue(cfg, storage, settings),
            folder=folder,
            bucket=bucket,
            key_prefix=base_prefix + rel_prefix,
            on_delete=mode,
            settings=settings,
        )
        return consumer.drain(opts)
    finally:
        if own_catalog:
            catalog.dispose()


__all__ = [
    "EventQueue",
    "NotificationConsumer",
    "QueueMessage",
    "WatchResult",
    "make_queue",
    "watch_integration",
]
