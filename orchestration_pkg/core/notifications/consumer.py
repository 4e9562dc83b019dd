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
The queues are in :mod:`.queues`, the counts of an evaluation in :mod:`.watch_result`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.notifications.batches import WatchTarget, apply_batch, plan_batches
from orchestration_pkg.core.notifications.events import BucketEvent, PoisonMessage
from orchestration_pkg.core.notifications.queues import EventQueue, QueueMessage, make_queue
from orchestration_pkg.core.notifications.watch_result import WatchResult
from orchestration_pkg.core.providers.base import Notifications, OnDelete
from orchestration_pkg.core.registration import build_storage, with_policies
from orchestration_pkg.core.storage import Storage

log = logging.getLogger(__name__)

# Settled inbox events are kept this long: SQS keeps a message at most 14 days, so a later
# copy of an applied event still finds it (per-key order across drains), then they go.
INBOX_RETENTION = timedelta(days=14)
MAX_ROUNDS = 100  # plan → apply rounds of one evaluation (held-back keys get their turn)


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
    "INBOX_RETENTION",
    "NotificationConsumer",
    "consumer_for",
    "target_for",
    "watch_integration",
]
