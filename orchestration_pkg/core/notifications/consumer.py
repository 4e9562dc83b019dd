"""One watch evaluation on the event path: receive → parse → inbox → delete → apply batches.

At-least-once, nothing lost: the events of the received messages are written to the catalog's
inbox (``op_watch_events``) in one short idempotent transaction, and only then are the
messages deleted from the queue. A crash before that re-delivers them, and storing them again
is a no-op (unique per integration, folder, key, kind and sequence). The pending events are
then cut into batches and applied (:mod:`.batches`): here inline, one engine job per batch;
the Dagster watch sensor does the same up to the inbox and requests one run per batch instead.
A batch whose job FAILED stays pending and is tried again by the next evaluation, up to
``watch.max_batch_attempts`` times, then given up (its events marked ``failed`` with the
reason). No listing: created keys are registered from the event's size and ETag
(``fetch`` as for ``sync``); deleted keys get the watch's ``on_delete``.

Unreadable messages are poison: counted, logged by id (never their body, which may carry
signed URLs), and deleted (``poison: delete``) or left to the queue's dead-letter policy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.models import JobResult, JobStatus
from orchestration_pkg.core.notifications.batches import (
    BatchOutcome,
    WatchTarget,
    apply_batch,
    plan_batches,
)
from orchestration_pkg.core.notifications.events import BucketEvent, PoisonMessage
from orchestration_pkg.core.providers.base import Notifications, OnDelete
from orchestration_pkg.core.registration import build_storage, with_policies
from orchestration_pkg.core.storage import Storage

log = logging.getLogger(__name__)

# Settled inbox events are kept this long: SQS keeps a message at most 14 days, so a later
# copy of an applied event still finds it (per-key order across drains), then they go.
INBOX_RETENTION = timedelta(days=14)
MAX_ROUNDS = 100  # plan → apply rounds of one evaluation (held-back keys get their turn)


@dataclass(frozen=True)
class QueueMessage:
    """A received message: its id, the handle that deletes it, its text (and attributes)."""

    id: str
    handle: str
    body: str = field(repr=False)  # may carry signed URLs: never shown
    attributes: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


class EventQueue(Protocol):
    """A queue of bucket events (:class:`~.s3_sqs.SqsQueue`, :class:`~.azure_queue.AzureQueue`,
    :class:`~.gcs_pubsub.PubSubQueue`; one with a ``close()`` is closed after each collect)."""

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
    job: JobResult | None = None  # the (first failed, else last) job of the evaluation
    jobs: list[str] = field(default_factory=list)
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
    stored: int = 0  # events new to the inbox (the rest were stored before: re-deliveries)
    deleted_messages: int = 0
    batches: int = 0
    superseded: int = 0
    gave_up: int = 0
    pending: int = 0

    @property
    def status(self) -> str:
        return self.job.status.value if self.job else "IDLE"

    def add(self, outcome: BatchOutcome) -> None:
        """Count one applied batch in."""
        self.batches += 1
        self.superseded += outcome.superseded
        job = outcome.job
        if job is None:
            return
        self.jobs.append(job.job_id)
        if self.job is None or self.job.status is JobStatus.DONE:
            self.job = job
        self.added += outcome.added
        self.updated += outcome.updated
        self.removed += outcome.removed
        self.unchanged += outcome.unchanged
        self.failed += outcome.failed

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
                jobs=self.jobs,
                messages=self.messages,
                poison=self.poison,
                events=self.events,
                ignored=self.ignored,
                stored=self.stored,
                deleted_messages=self.deleted_messages,
                batches=self.batches,
                superseded=self.superseded,
                gave_up=self.gave_up,
                pending=self.pending,
            )
        return data


class NotificationConsumer:
    """Drains one queue into the inbox of one folder, and applies the inbox's batches."""

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
        max_batch_attempts: int = 3,
        max_events: int = 5000,
    ) -> None:
        self.catalog = catalog
        self.storage = storage
        self.queue = queue
        self.target = WatchTarget(storage.name, folder, bucket, key_prefix, on_delete)
        self.settings = settings
        self.max_batch_attempts = max_batch_attempts
        self.max_events = max_events

    @property
    def folder(self) -> str:
        return self.target.folder

    def new_result(self) -> WatchResult:
        target = self.target
        return WatchResult(
            mode="notifications",
            folder=target.folder,
            integration=target.integration,
            prefix=target.key_prefix,
        )

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

    def collect(self, result: WatchResult) -> None:
        """Receive a capped number of messages, store their in-scope events in the inbox (one
        transaction), THEN delete them (poison too, unless ``poison: leave``)."""
        try:
            self._collect(result)
        finally:
            close = getattr(self.queue, "close", None)
            if close is not None:
                close()

    def _collect(self, result: WatchResult) -> None:
        messages = self.receive()
        result.messages = len(messages)
        events: list[BucketEvent] = []
        good: list[QueueMessage] = []
        poison: list[QueueMessage] = []
        for arrival, message in enumerate(messages):
            try:
                parsed = self.queue.parse(message, arrival)
            except Exception as exc:  # never let one message stop the consumer
                reason = str(exc) if isinstance(exc, PoisonMessage) else type(exc).__name__
                log.warning("poison message %s on %s: %s", message.id, self.queue.name, reason)
                poison.append(message)
                continue
            events.extend(parsed)
            good.append(message)
        result.poison = len(poison)
        result.events = len(events)
        relevant = [e for e in events if self._in_scope(e)]
        result.ignored = len(events) - len(relevant)
        target = self.target
        result.stored = ib.add_events(self.catalog, target.integration, target.folder, relevant)
        # at-least-once: the events are committed, the messages may go
        to_delete = good + (poison if self.settings.poison == "delete" else [])
        if to_delete:
            result.deleted_messages = self.queue.delete(to_delete)

    def _in_scope(self, event: BucketEvent) -> bool:
        return (
            event.bucket == self.target.bucket
            and event.key.startswith(self.target.key_prefix)
            and not event.key.endswith("/")  # "folder" markers are not files
        )

    def give_up(self, batch: str, reason: str) -> int:
        """Stop trying a batch: its pending events become ``failed`` with ``reason``."""
        target = self.target
        count = ib.give_up(self.catalog, target.integration, target.folder, batch, reason)
        log.warning(
            "watch %s: gave up batch %s (%d events): %s", target.integration, batch, count, reason
        )
        return count

    def apply_pending(self, options: RegistrationOptions | None, result: WatchResult) -> None:
        """Plan and apply the inbox's pending batches, each at most once per evaluation."""
        target = self.target
        ib.prune(self.catalog, target.integration, target.folder, INBOX_RETENTION)
        tried: set[str] = set()
        for _ in range(MAX_ROUNDS):
            plan_batches(self.catalog, target, self.max_events)
            todo = [
                b
                for b in ib.pending_batches(self.catalog, target.integration, target.folder)
                if b.batch not in tried
            ]
            if not todo:
                break
            for pending in todo:
                tried.add(pending.batch)
                if pending.attempts >= self.max_batch_attempts:
                    reason = (
                        f"gave up after {pending.attempts} failed attempt(s); "
                        "run `orchestration-pkg sync` to reconcile the folder"
                    )
                    result.gave_up += self.give_up(pending.batch, reason)
                    continue
                result.add(apply_batch(self.catalog, self.storage, target, pending.batch, options))
        counts = ib.status_counts(self.catalog, target.integration, target.folder)
        result.pending = counts.get(ib.PENDING, 0)

    def drain(self, options: RegistrationOptions | None = None) -> WatchResult:
        """One evaluation: see the module docstring."""
        result = self.new_result()
        self.collect(result)
        self.apply_pending(options, result)
        return result


def make_queue(cfg: AnyIntegrationConfig, storage: Storage, settings: Notifications) -> EventQueue:
    """The event queue of an integration's ``watch.notifications``."""
    provider = cfg.provider
    if provider == "s3" and settings.queue_url:
        from orchestration_pkg.core.notifications.s3_sqs import SqsQueue

        return SqsQueue.for_storage(storage, settings)
    if provider == "azure" and settings.queue_name:
        from orchestration_pkg.core.notifications.azure_queue import AzureQueue

        return AzureQueue.for_storage(storage, settings)
    if provider == "gcs" and settings.subscription:
        from orchestration_pkg.core.notifications.gcs_pubsub import PubSubQueue

        return PubSubQueue.for_storage(storage, settings)
    want = {
        "s3": "queue_url (SQS)",
        "azure": "queue_name (storage queue)",
        "gcs": "subscription (Pub/Sub)",
    }.get(str(provider))
    if want is None:
        raise ConfigError(
            f"integration '{cfg.name}' ({provider}): bucket notifications are S3 (SQS), Azure "
            "(Event Grid → storage queue) and GCS (Pub/Sub) only; remove watch.notifications "
            "to poll"
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
    folder, _, _ = resolve_target(cfg, None, None, None)
    storage = storage or build_storage(cfg)
    opts = with_policies(config, cfg, folder, options)
    own_catalog = catalog is None
    catalog = catalog or Catalog.for_config(config)
    try:
        return consumer_for(cfg, catalog, storage, queue).drain(opts)
    finally:
        if own_catalog:
            catalog.dispose()


def target_for(cfg: AnyIntegrationConfig) -> WatchTarget:
    """Folder, bucket, key prefix and ``on_delete`` of an integration's ``watch:`` block."""
    from orchestration_pkg.core.sync import resolve_target

    root = cfg.listing_root()
    if root is None:
        raise ConfigError(f"integration '{cfg.name}' has no bucket to watch")
    bucket, base_prefix = root
    folder, rel_prefix, mode = resolve_target(cfg, None, None, None)
    return WatchTarget(cfg.name, folder, bucket, base_prefix + rel_prefix, mode)


def consumer_for(
    cfg: AnyIntegrationConfig,
    catalog: Catalog,
    storage: Storage,
    queue: EventQueue | None = None,
) -> NotificationConsumer:
    """The consumer of an integration's ``watch.notifications`` (the CLI's and the sensor's)."""
    watch = cfg.watch
    settings = watch.notifications if watch else None
    if watch is None or settings is None:
        raise ConfigError(f"integration '{cfg.name}' has no watch.notifications")
    target = target_for(cfg)
    return NotificationConsumer(
        catalog,
        storage,
        queue or make_queue(cfg, storage, settings),
        folder=target.folder,
        bucket=target.bucket,
        key_prefix=target.key_prefix,
        on_delete=target.on_delete,
        settings=settings,
        max_batch_attempts=watch.max_batch_attempts,
        max_events=watch.max_keys_per_tick,
    )


__all__ = [
    "EventQueue",
    "NotificationConsumer",
    "QueueMessage",
    "WatchResult",
    "consumer_for",
    "make_queue",
    "target_for",
    "watch_integration",
]
