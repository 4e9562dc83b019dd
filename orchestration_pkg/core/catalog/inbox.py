"""Catalog side of the watch inbox (``op_watch_events``, migration 0006): bucket events kept
between the tick that received them and the batch that applies them.

Every write is one short transaction, never open across a network call. Row states:
``pending`` (no batch yet, or its batch not applied), ``done`` (applied by job ``job_id``),
``superseded`` (a newer event of the same key was applied instead: never applied) and
``failed`` (its batch was given up: ``error`` says why). The newest ``done`` sequence of a key
is what later events of that key are compared with (per-key order across drains).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from orchestration_pkg.core.catalog.records import _chunks
from orchestration_pkg.core.catalog.schema import _now, watch_events

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog.queries import Catalog
    from orchestration_pkg.core.notifications.events import BucketEvent

PENDING, DONE, SUPERSEDED, FAILED = "pending", "done", "superseded", "failed"
CREATED, REMOVED = "created", "removed"
_CHUNK = 500
_UNIQUE = ("integration", "folder", "key", "kind", "sequence")


@dataclass(frozen=True)
class InboxEvent:
    """One stored event."""

    id: int
    key: str
    kind: str  # created | removed
    etag: str | None
    size: int | None
    sequence: str
    event_time: datetime | None
    batch: str | None = None
    attempts: int = 0

    @property
    def deleted(self) -> bool:
        return self.kind == REMOVED


@dataclass(frozen=True)
class PendingBatch:
    """A batch with pending events: its partition key, events and attempts so far."""

    batch: str
    events: int
    attempts: int


def _scope(integration: str, folder: str) -> sa.ColumnElement[bool]:
    return sa.and_(watch_events.c.integration == integration, watch_events.c.folder == folder)


def _event(row: Any) -> InboxEvent:
    return InboxEvent(
        id=row.id,
        key=row.key,
        kind=row.kind,
        etag=row.etag,
        size=row.size,
        sequence=row.sequence,
        event_time=row.event_time,
        batch=row.batch,
        attempts=row.attempts,
    )


_COLUMNS = (
    watch_events.c.id,
    watch_events.c.key,
    watch_events.c.kind,
    watch_events.c.etag,
    watch_events.c.size,
    watch_events.c.sequence,
    watch_events.c.event_time,
    watch_events.c.batch,
    watch_events.c.attempts,
)


def add_events(
    catalog: Catalog, integration: str, folder: str, events: Iterable[BucketEvent]
) -> int:
    """Store ``events`` in ONE transaction; an event stored before (a re-delivered message) is
    skipped by the unique constraint. Returns how many rows are new."""
    now = _now()
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in events:
        kind = REMOVED if e.deleted else CREATED
        rows[(e.key, kind, e.sequence)] = {
            "integration": integration,
            "folder": folder,
            "key": e.key,
            "kind": kind,
            "etag": e.etag,
            "size": e.size,
            "sequence": e.sequence,
            "event_time": e.time,
            "received_at": now,
            "status": PENDING,
            "attempts": 0,
        }
    if not rows:
        return 0
    dialect = postgresql if catalog.dialect == "postgresql" else sqlite
    stmt = (
        dialect.insert(watch_events)
        .on_conflict_do_nothing(index_elements=[watch_events.c[n] for n in _UNIQUE])
        .returning(watch_events.c.id)
    )
    inserted = 0
    with catalog.engine.begin() as conn:
        for part in _chunks(list(rows.values()), _CHUNK):
            inserted += len(conn.scalars(stmt, list(part)).all())
    return inserted


def unbatched(catalog: Catalog, integration: str, folder: str, limit: int) -> list[InboxEvent]:
    """Pending events without a batch, by key then sequence (at most ``limit``)."""
    stmt = (
        sa.select(*_COLUMNS)
        .where(
            _scope(integration, folder),
            watch_events.c.status == PENDING,
            watch_events.c.batch.is_(None),
        )
        .order_by(watch_events.c.key, watch_events.c.sequence, watch_events.c.id)
        .limit(limit)
    )
    with catalog.engine.connect() as conn:
        return [_event(r) for r in conn.execute(stmt)]


def keys_in_flight(catalog: Catalog, integration: str, folder: str) -> set[str]:
    """Keys with pending events already in a batch: their newer events wait for it."""
    stmt = (
        sa.select(watch_events.c.key)
        .where(
            _scope(integration, folder),
            watch_events.c.status == PENDING,
            watch_events.c.batch.is_not(None),
        )
        .distinct()
    )
    with catalog.engine.connect() as conn:
        return set(conn.scalars(stmt))


def assign_batches(catalog: Catalog, assignments: dict[str, Sequence[int]]) -> None:
    """Give events their batch (partition key), all in one transaction; an event that got a
    batch meanwhile keeps it."""
    if not assignments:
        return
    with catalog.engine.begin() as conn:
        for batch, ids in assignments.items():
            for part in _chunks(list(ids), _CHUNK):
                conn.execute(
                    watch_events.update()
                    .where(watch_events.c.id.in_(part), watch_events.c.batch.is_(None))
                    .values(batch=batch)
                )


def pending_batches(catalog: Catalog, integration: str, folder: str) -> list[PendingBatch]:
    """Batches that still have pending events, oldest first."""
    stmt = (
        sa.select(
            watch_events.c.batch,
            sa.func.count().label("events"),
            sa.func.max(watch_events.c.attempts).label("attempts"),
        )
        .where(
            _scope(integration, folder),
            watch_events.c.status == PENDING,
            watch_events.c.batch.is_not(None),
        )
        .group_by(watch_events.c.batch)
        .order_by(sa.func.min(watch_events.c.id))
    )
    with catalog.engine.connect() as conn:
        return [PendingBatch(r.batch, r.events, r.attempts) for r in conn.execute(stmt)]


def batch_events(catalog: Catalog, integration: str, folder: str, batch: str) -> list[InboxEvent]:
    """The pending events of one batch, by key then sequence."""
    stmt = (
        sa.select(*_COLUMNS)
        .where(
            _scope(integration, folder),
            watch_events.c.batch == batch,
            watch_events.c.status == PENDING,
        )
        .order_by(watch_events.c.key, watch_events.c.sequence, watch_events.c.id)
    )
    with catalog.engine.connect() as conn:
        return [_event(r) for r in conn.execute(stmt)]


def count_attempt(catalog: Catalog, integration: str, folder: str, batch: str) -> None:
    """One more attempt at a batch (a run or a watch evaluation starts applying it)."""
    with catalog.engine.begin() as conn:
        conn.execute(
            watch_events.update()
            .where(
                _scope(integration, folder),
                watch_events.c.batch == batch,
                watch_events.c.status == PENDING,
            )
            .values(attempts=watch_events.c.attempts + 1)
        )


def applied_sequences(
    catalog: Catalog, integration: str, folder: str, keys: Iterable[str]
) -> dict[str, str]:
    """key → sequence of the newest applied (``done``) event of that key.

    Compared in Python (code point order, as the sequences were built for), not by the
    database's collation, which may skip punctuation."""
    found: dict[str, str] = {}
    for part in _chunks(sorted(set(keys)), _CHUNK):
        stmt = sa.select(watch_events.c.key, watch_events.c.sequence).where(
            _scope(integration, folder),
            watch_events.c.status == DONE,
            watch_events.c.key.in_(part),
        )
        with catalog.engine.connect() as conn:
            for key, seq in conn.execute(stmt):
                if seq > found.get(key, ""):
                    found[key] = seq
    return found


def settle(
    catalog: Catalog,
    done: Sequence[int],
    superseded: Sequence[int],
    job_id: str | None,
    conn: sa.Connection | None = None,
) -> None:
    """Mark events applied (``done``) or skipped as older than an applied one, in one
    transaction (``conn``'s, when given); only events still pending change."""

    def run(c: sa.Connection) -> None:
        now = _now()
        for status, ids in ((DONE, done), (SUPERSEDED, superseded)):
            for part in _chunks(list(ids), _CHUNK):
                c.execute(
                    watch_events.update()
                    .where(watch_events.c.id.in_(part), watch_events.c.status == PENDING)
                    .values(status=status, job_id=job_id, done_at=now)
                )

    if conn is not None:
        run(conn)
        return
    with catalog.engine.begin() as own:
        run(own)


def give_up(catalog: Catalog, integration: str, folder: str, batch: str, reason: str) -> int:
    """Mark a batch's pending events ``failed`` with ``reason``; returns how many."""
    with catalog.engine.begin() as conn:
        result = conn.execute(
            watch_events.update()
            .where(
                _scope(integration, folder),
                watch_events.c.batch == batch,
                watch_events.c.status == PENDING,
            )
            .values(status=FAILED, error=reason[:2000], done_at=_now())
        )
    return result.rowcount or 0


def prune(catalog: Catalog, integration: str, folder: str, keep: timedelta) -> int:
    """Delete settled events older than ``keep`` (pending ones stay whatever their age)."""
    with catalog.engine.begin() as conn:
        result = conn.execute(
            watch_events.delete().where(
                _scope(integration, folder),
                watch_events.c.status != PENDING,
                watch_events.c.done_at < _now() - keep,
            )
        )
    return result.rowcount or 0


def status_counts(catalog: Catalog, integration: str, folder: str) -> dict[str, int]:
    """Events by status (for reports)."""
    stmt = (
        sa.select(watch_events.c.status, sa.func.count())
        .where(_scope(integration, folder))
        .group_by(watch_events.c.status)
    )
    with catalog.engine.connect() as conn:
        return {status: n for status, n in conn.execute(stmt)}


__all__ = [
    "CREATED",
    "DONE",
    "FAILED",
    "PENDING",
    "REMOVED",
    "SUPERSEDED",
    "InboxEvent",
    "PendingBatch",
    "add_events",
    "applied_sequences",
    "assign_batches",
    "batch_events",
    "count_attempt",
    "give_up",
    "keys_in_flight",
    "pending_batches",
    "prune",
    "settle",
    "status_counts",
    "unbatched",
]
