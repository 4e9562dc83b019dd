"""Job liveness: RUNNING, heartbeats, the fence every job write passes, and the sweep.

A job is PENDING once recorded, RUNNING once its process starts working on it, and stays alive
as long as its heartbeat (``op_jobs.heartbeat_at``) is younger than ``stale_after_s``. The
heartbeat is written by a background thread (:class:`Heartbeat`) every ``stale_after_s / 4``
in its own short transaction, so a batch whose probes take minutes keeps its job alive, and by
every batch write of the job (the *fence*: an UPDATE that also checks the job is still
RUNNING). :meth:`LifecycleMixin.sweep_stale` marks jobs whose heartbeat is too old ABANDONED,
discards their staged rows and removes a folder such a job created if nothing uses it.

A job found ABANDONED by its own fence (its process was paused longer than ``stale_after_s``)
writes nothing more: :class:`~orchestration_pkg.core.catalog.txn.JobGoneError`.

Times are the writing host's clock (UTC): hosts sharing a catalog must agree within a small
fraction of ``stale_after_s`` (NTP).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from orchestration_pkg.core.catalog.schema import _now, jobs, staged_files
from orchestration_pkg.core.catalog.txn import JobGoneError, run_write
from orchestration_pkg.core.models import JobStatus

log = logging.getLogger(__name__)

LIVE = (JobStatus.PENDING.value, JobStatus.RUNNING.value)


def owner_tag() -> str:
    """``host:pid`` of this process: who runs a job."""
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def fence(conn: Connection, job_id: str) -> None:
    """First statement of every job write: heartbeat + check the job is still RUNNING.

    On SQLite it is also the statement that takes the write lock, so the rest of the
    transaction reads what it then writes over.
    """
    stmt = (
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
        .values(heartbeat_at=_now())
    )
    if conn.execute(stmt).rowcount != 1:
        raise JobGoneError(
            f"job {job_id} is no longer RUNNING (a sweep marked it ABANDONED: no heartbeat for "
            "longer than jobs.stale_after_s); it wrote nothing more"
        )


class LifecycleMixin:
    """The liveness half of :class:`~orchestration_pkg.core.catalog.Catalog`."""

    if TYPE_CHECKING:
        engine: Engine
        dialect: str
        stale_after_s: float
        busy_timeout_s: float

        def _drop_unused_folder(self, conn: Connection, folder_id: int, job_id: str) -> None: ...

    @property
    def heartbeat_interval_s(self) -> float:
        """Seconds between heartbeats: a quarter of ``stale_after_s``."""
        return self.stale_after_s / 4

    def mark_running(self, job_id: str) -> None:
        """PENDING → RUNNING, with ``started_at`` and a first heartbeat."""
        now = _now()
        stmt = (
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == JobStatus.PENDING.value)
            .values(status=JobStatus.RUNNING.value, started_at=now, heartbeat_at=now)
        )

        def run(conn: Connection) -> None:
            if conn.execute(stmt).rowcount != 1:
                raise JobGoneError(f"job {job_id} is no longer PENDING; not started")

        run_write(self, run, what="start the job")  # type: ignore[arg-type]

    def heartbeat(self, job_id: str, *, budget: float | None = None) -> bool:
        """One heartbeat; False when the job is no longer PENDING/RUNNING (finished, swept)."""
        stmt = (
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status.in_(LIVE))
            .values(heartbeat_at=_now())
        )
        rows = run_write(
            self,  # type: ignore[arg-type]
            lambda conn: conn.execute(stmt).rowcount,
            budget=budget,
            what="record a heartbeat",
        )
        return rows == 1

    def _stale(self, cutoff: datetime) -> sa.ColumnElement[bool]:
        beat = sa.or_(
            jobs.c.heartbeat_at < cutoff,
            sa.and_(jobs.c.heartbeat_at.is_(None), jobs.c.created_at < cutoff),  # before 0007
        )
        return sa.and_(jobs.c.status.in_(LIVE), beat)

    def sweep_stale(self, *, now: datetime | None = None) -> list[str]:
        """Mark PENDING/RUNNING jobs without a heartbeat for ``stale_after_s`` ABANDONED; ids.

        A read first, so a catalog without stale jobs costs no write. On PostgreSQL the
        candidates are locked ``FOR UPDATE SKIP LOCKED``: sweeps running at once split them.
        """
        now = now or _now()
        cutoff = now - timedelta(seconds=self.stale_after_s)
        probe = sa.select(jobs.c.id).where(self._stale(cutoff)).limit(1)
        with self.engine.connect() as conn:
            if conn.scalar(probe) is None:
                return []
        return run_write(
            self,  # type: ignore[arg-type]
            lambda conn: self._sweep(conn, cutoff, now),
            what="sweep abandoned jobs",
        )

    def _sweep(self, conn: Connection, cutoff: datetime, now: datetime) -> list[str]:
        candidates = sa.select(jobs.c.id).where(self._stale(cutoff))
        if self.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        # One UPDATE … RETURNING: on SQLite it takes the write lock before reading anything.
        marked = conn.execute(
            jobs.update()
            .where(jobs.c.id.in_(candidates.scalar_subquery()), jobs.c.status.in_(LIVE))
            .values(status=JobStatus.ABANDONED.value, finished_at=now)
            .returning(
                jobs.c.id,
                jobs.c.folder_id,
                jobs.c.created_folder,
                jobs.c.owner,
                jobs.c.heartbeat_at,
            )
        ).all()
        if not marked:
            return []
        ids = [row.id for row in marked]
        reasons = [
            {"_id": row.id, "_error": _abandoned_reason(row, now, self.stale_after_s)}
            for row in marked
        ]
        conn.execute(
            jobs.update()
            .where(jobs.c.id == sa.bindparam("_id"))
            .values(error=sa.bindparam("_error")),
            reasons,
        )
        conn.execute(staged_files.delete().where(staged_files.c.job_id.in_(ids)))
        for row in marked:
            if row.created_folder and row.folder_id:
                self._drop_unused_folder(conn, row.folder_id, row.id)
        log.warning("marked %d job(s) ABANDONED: %s", len(ids), ", ".join(ids))
        return ids


def _abandoned_reason(row: Any, now: datetime, stale_after_s: float) -> str:
    last = row.heartbeat_at
    age = f"{(now - last).total_seconds():.0f} s" if last else "ever"
    return (
        f"abandoned: no heartbeat for {age} (jobs.stale_after_s {stale_after_s:g}); its process "
        f"{row.owner or '(unknown)'} was killed or lost"
    )


class Heartbeat:
    """A daemon thread writing the job's heartbeat every ``interval`` seconds until exit.

    Chosen over heartbeats at batch boundaries: one batch's probes (1000 objects, each with a
    deadline of its own) can take longer than any sensible ``stale_after_s``, and a live job
    must never look dead. A hung process keeps beating; its network calls are bounded by the
    per-object deadlines, so "hung" cannot last. Each beat is one short transaction that waits
    at most ``interval`` for a busy catalog and is skipped when it cannot get it.
    """

    def __init__(self, catalog: LifecycleMixin, job_id: str) -> None:
        self.catalog = catalog
        self.job_id = job_id
        self.interval = catalog.heartbeat_interval_s
        self.lost = False  # the job was swept (or finished) under us
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.catalog.heartbeat(self.job_id, budget=self.interval):
                    self.lost = True
                    return
            except Exception as exc:  # a busy catalog or a dropped connection: next beat
                log.debug("heartbeat of job %s skipped: %s", self.job_id, type(exc).__name__)
