"""A job's batch writes: straight into the folder, or staged and published at the end.

* ``ignore_errors`` jobs write each batch with :meth:`StagingMixin.write_batch`: one short
  transaction (fence, upsert, the job's running counts), visible at once: at-least-once.
* Strict jobs (and jobs with quotas) stage each batch with :meth:`StagingMixin.stage_batch`
  into ``op_staged_files``, which no reader looks at (``files``, folder counts, exports and
  sync diffs read ``op_files`` only), and :meth:`StagingMixin.publish` replays the staged
  batches in order through the same upsert in one short transaction at the end: readers see
  all of the job or none of it. A failed or abandoned job's staged rows are deleted.

No transaction here ever waits on the network: probing happens before, in the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orchestration_pkg.core.catalog.lifecycle import fence
from orchestration_pkg.core.catalog.records import FileRecord, UpsertCounts
from orchestration_pkg.core.catalog.schema import jobs, staged_files
from orchestration_pkg.core.catalog.txn import run_write

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog.queries import Catalog
    from orchestration_pkg.core.catalog.writer import FileWriter


def _dump(values: dict[str, Any]) -> str:
    """A file row's column values as one JSON text (``last_modified`` in ISO 8601)."""
    return json.dumps(values, separators=(",", ":"), default=datetime.isoformat)


def _load(text: str) -> dict[str, Any]:
    values = json.loads(text)
    if values.get("last_modified"):
        values["last_modified"] = datetime.fromisoformat(values["last_modified"])
    return values


class PublishRefused(Exception):
    """Raised by a publish ``check`` to roll the publish back (a folder quota was exceeded)."""


def _counts(counts: UpsertCounts) -> dict[str, Any]:
    return {
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "skipped": counts.skipped,
        "registered": counts.created + counts.updated + counts.unchanged,
    }


class StagingMixin:
    """The batch-writing half of :class:`~orchestration_pkg.core.catalog.Catalog`."""

    def write_batch(
        self,
        job_id: str,
        folder_id: int,
        records: Sequence[FileRecord],
        *,
        skip_existing: bool = False,
        update_client_metadata: bool = True,
    ) -> UpsertCounts:
        """Upsert one batch into the folder and add its counts to the job: one transaction."""
        from orchestration_pkg.core.catalog.writer import FileWriter  # writer imports queries

        catalog: Catalog = self  # type: ignore[assignment]

        def run(conn: Connection) -> UpsertCounts:
            fence(conn, job_id)
            counts = FileWriter(catalog, folder_id, conn=conn).upsert(
                records, skip_existing=skip_existing, update_client_metadata=update_client_metadata
            )
            added = {name: getattr(jobs.c, name) + value for name, value in _counts(counts).items()}
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(added))
            return counts

        return run_write(catalog, run, folder_id=folder_id, what="write a batch")

    def stage_batch(self, job_id: str, batch: int, records: Sequence[FileRecord]) -> int:
        """Keep one batch of a strict job out of sight until :meth:`publish`; rows staged."""
        from orchestration_pkg.core.catalog.writer import record_values

        catalog: Catalog = self  # type: ignore[assignment]
        rows = [{"job_id": job_id, "batch": batch, "row": _dump(record_values(r))} for r in records]
        if not rows:
            return 0

        def run(conn: Connection) -> int:
            fence(conn, job_id)
            conn.execute(staged_files.insert(), rows)
            return len(rows)

        return run_write(catalog, run, what="stage a batch")

    def publish(
        self,
        job_id: str,
        folder_id: int,
        *,
        skip_existing: bool = False,
        update_client_metadata: bool = True,
        check: Callable[[FileWriter], str | None] | None = None,
    ) -> UpsertCounts | str:
        """Apply the job's staged batches to the folder in one transaction; their counts.

        ``check(writer)`` runs last, inside the transaction (the folder as it would be after
        the publish): a message it returns rolls everything back and is returned instead.
        """
        from orchestration_pkg.core.catalog.writer import FileWriter

        catalog: Catalog = self  # type: ignore[assignment]

        def run(conn: Connection) -> UpsertCounts:
            fence(conn, job_id)
            writer = FileWriter(catalog, folder_id, conn=conn)
            mine = staged_files.c.job_id == job_id
            batches = conn.scalars(
                sa.select(staged_files.c.batch)
                .where(mine)
                .distinct()
                .order_by(staged_files.c.batch)
            ).all()
            total = UpsertCounts()
            for batch in batches:
                stmt = (
                    sa.select(staged_files.c.row)
                    .where(mine, staged_files.c.batch == batch)
                    .order_by(staged_files.c.id)
                )
                staged = (_load(text) for text in conn.scalars(stmt))
                wanted = {values["object_url"]: values for values in staged}  # last one wins
                total += writer.upsert_values(
                    wanted,
                    skip_existing=skip_existing,
                    update_client_metadata=update_client_metadata,
                )
            refused = check(writer) if check else None
            if refused:
                raise PublishRefused(refused)
            conn.execute(staged_files.delete().where(mine))
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(_counts(total)))
            return total

        try:
            return run_write(catalog, run, folder_id=folder_id, what="publish the job")
        except PublishRefused as exc:
            return str(exc)

    def staged_count(self, job_id: str | None = None) -> int:
        """Rows staged and not yet published (of one job, or of every job)."""
        stmt = sa.select(sa.func.count()).select_from(staged_files)
        if job_id is not None:
            stmt = stmt.where(staged_files.c.job_id == job_id)
        engine = self.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            return int(conn.scalar(stmt) or 0)
