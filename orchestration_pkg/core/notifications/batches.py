"""The inbox's batches: pending events cut into batches, and one batch applied.

Shared by ``orchestration-pkg watch`` (which applies each batch inline) and the Dagster watch
sensor (which requests one run per batch; the folder asset's run applies it), so both do the
same thing with the same guarantees:

* A batch is ≤ 1000 keys / ≤ 100 videos (:mod:`orchestration_pkg.core.batching`); all pending
  events of a key go into the same batch, and a key whose events are already in a pending
  batch is held back until that batch is applied or given up: a key is in one batch at a time.
* Its partition key derives from its content (``ev-<hash of first key>-<hash of keys, kinds,
  sequences>``): re-planning the same events gives the same key.
* Applying it: per key the newest event of the batch counts, unless the inbox already applied
  a newer one of that key (then it is ``superseded``: a delete that arrives in a later drain
  than a newer create does not remove the newer object, and the other way round). Created
  keys are registered through the engine as listed rows (the event's size and ETag; ``fetch``
  as for ``sync``); after the job's files committed, removals get ``on_delete`` and the events
  are marked done, in the job's finalize hook. A FAILED job leaves them pending.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from orchestration_pkg.core.batching import split_batches
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.core.catalog.sync_queries import (
    delete_rows,
    mark_removed,
    rows_for_keys,
    rows_for_urls,
)
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
from orchestration_pkg.core.providers.base import OnDelete
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.urls import redact_url

BATCH_PREFIX = "ev-"


@dataclass(frozen=True)
class WatchTarget:
    """Where one integration's events go: its folder, bucket, key prefix and ``on_delete``."""

    integration: str
    folder: str
    bucket: str
    key_prefix: str
    on_delete: OnDelete = "mark"


def batch_key(events: list[ib.InboxEvent]) -> str:
    """``ev-<first key hash>-<hash of keys, kinds, sequences>``: same events, same key."""
    digest = hashlib.sha1()
    for e in sorted(events, key=lambda e: (e.key, e.sequence, e.kind)):
        digest.update(f"{e.key}\0{e.kind}\0{e.sequence}\n".encode())
    first = hashlib.sha1(min(e.key for e in events).encode()).hexdigest()[:8]
    return f"{BATCH_PREFIX}{first}-{digest.hexdigest()[:12]}"


def plan_batches(catalog: Catalog, target: WatchTarget, cap: int) -> list[str]:
    """Cut up to ``cap`` pending, un-batched events into batches; returns their keys."""
    held = ib.keys_in_flight(catalog, target.integration, target.folder)
    by_key: dict[str, list[ib.InboxEvent]] = {}
    for event in ib.unbatched(catalog, target.integration, target.folder, cap):
        if event.key not in held:
            by_key.setdefault(event.key, []).append(event)
    groups = split_batches(by_key.values(), key=lambda events: events[0].key)
    assignments = {
        batch_key(events): [e.id for e in events]
        for events in ([e for group in chunk for e in group] for chunk in groups)
    }
    ib.assign_batches(catalog, assignments)
    return list(assignments)


@dataclass
class BatchOutcome:
    """What applying one batch did (``job`` None: nothing left to apply)."""

    batch: str
    job: JobResult | None = None
    events: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    superseded: int = 0
    created_keys: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.job is None or self.job.status is JobStatus.DONE


@dataclass
class _Items:
    """The engine's row source: one listed row per created key (keeping what a manifest once
    gave an overwritten object: title, external id, client metadata)."""

    storage: Storage
    events: list[ib.InboxEvent]
    known: dict[str, dict]
    flags: ManifestFlags = field(default_factory=ManifestFlags)

    def __iter__(self) -> Iterator[ListedItem]:
        for number, event in enumerate(self.events, start=1):
            url = self.storage.canonical_url(event.key)
            row = self.known.get(event.key)
            if row is not None and row["object_url"] != url:
                row = None
            yield ListedItem(
                row=number,
                url=url,
                title=row["title"] if row else None,
                external_id=row["external_id"] if row else None,
                client_metadata=dict(row["client_metadata"] or {}) if row else {},
                given=MediaMetadata(file_size=event.size),
                listed=ObjectInfo(
                    key=event.key, size=event.size, etag=event.etag, last_modified=event.event_time
                ),
            )


def _folder_id(catalog: Catalog, folder: str) -> int | None:
    try:
        return catalog.get_folder(folder).id
    except NotFoundError:
        return None


def apply_batch(
    catalog: Catalog,
    storage: Storage,
    target: WatchTarget,
    batch: str,
    options: RegistrationOptions | None = None,
) -> BatchOutcome:
    """Apply one batch's pending events (see the module docstring); idempotent."""
    outcome = BatchOutcome(batch=batch)
    events = ib.batch_events(catalog, target.integration, target.folder, batch)
    outcome.events = len(events)
    if not events:
        return outcome  # applied before (a re-executed run): nothing to do
    ib.count_attempt(catalog, target.integration, target.folder, batch)
    applied = ib.applied_sequences(
        catalog, target.integration, target.folder, (e.key for e in events)
    )
    newest: dict[str, ib.InboxEvent] = {}
    for event in events:  # the newest event of a key wins (sequences compare as strings)
        seen = newest.get(event.key)
        if seen is None or (event.sequence, event.id) > (seen.sequence, seen.id):
            newest[event.key] = event
    winners = sorted(
        (e for e in newest.values() if e.sequence > applied.get(e.key, "")), key=lambda e: e.key
    )
    done_ids = [e.id for e in winners]
    chosen = set(done_ids)
    skipped = [e.id for e in events if e.id not in chosen]
    outcome.superseded = len(events) - len(winners)
    created = [e for e in winners if not e.deleted]
    gone = [e for e in winners if e.deleted]
    outcome.created_keys = [e.key for e in created]
    if not winners:
        ib.settle(catalog, [], skipped, None)
        return outcome

    def finalize(job: JobResult) -> None:
        outcome.removed = _apply_removals(catalog, storage, target, gone)
        ib.settle(catalog, done_ids, skipped, job.job_id)
        job.stats = {**job.stats, "events": len(events), "removed": outcome.removed}

    folder_id = _folder_id(catalog, target.folder)
    known = (
        {
            r["key"]: r
            for r in rows_for_keys(catalog, folder_id, target.integration, outcome.created_keys)
        }
        if folder_id is not None and created
        else {}
    )
    name = f"watch {redact_url(storage.canonical_url(target.key_prefix))} batch {batch}"
    job = RegistrationEngine(catalog, storage).register(
        _Items(storage, created, known),
        target.folder,
        options,
        manifest_name=name,
        finalize=finalize,
    )
    outcome.job, outcome.failed = job, job.failed
    if job.status is JobStatus.DONE:
        outcome.added, outcome.updated, outcome.unchanged = job.created, job.updated, job.unchanged
    return outcome


def _apply_removals(
    catalog: Catalog, storage: Storage, target: WatchTarget, gone: list[ib.InboxEvent]
) -> int:
    if not gone or target.on_delete == "keep":
        return 0
    folder_id = catalog.get_folder(target.folder).id
    urls = [storage.canonical_url(e.key) for e in gone]
    rows = list(rows_for_urls(catalog, folder_id, target.integration, urls))
    if target.on_delete == "remove":
        return delete_rows(catalog, [r.id for r in rows])
    return mark_removed(catalog, [r.id for r in rows if r.removed_at is None])


__all__ = [
    "BATCH_PREFIX",
    "BatchOutcome",
    "WatchTarget",
    "apply_batch",
    "batch_key",
    "plan_batches",
]
