"""Transactional, batched upserts of file records: :class:`FileWriter`.

Writes go through :class:`FileWriter`, which upserts whole batches with a constant number of
statements: one lookup of existing rows, one bulk ``INSERT … ON CONFLICT DO NOTHING`` and one
bulk ``UPDATE`` (executemany). Re-running a registration is therefore cheap and idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from orchestration_pkg.core.catalog.queries import _pg_array_params, _pg_insert_sql
from orchestration_pkg.core.catalog.records import (
    FileRecord,
    UpsertCounts,
    _check_unsigned,
    _json_dict,
)
from orchestration_pkg.core.catalog.schema import _CONTENT_FIELDS, _now, _utc, files
from orchestration_pkg.core.models import MediaKind, MediaMetadata

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog.queries import Catalog


def _media_metadata(value: dict[str, Any] | MediaMetadata | None) -> dict[str, Any]:
    if isinstance(value, MediaMetadata):
        return _json_dict(value.model_dump(exclude_none=True))
    return _json_dict({k: v for k, v in (value or {}).items() if v is not None})


def record_values(record: FileRecord) -> dict[str, Any]:
    """Validated, normalised column values of ``record`` (without ids and timestamps)."""
    if not record.object_url:
        raise ValueError("a file record needs an object_url")
    _check_unsigned(record.object_url)
    kind = record.media_kind
    return {
        "object_url": record.object_url,
        "integration": record.integration,
        "key": record.key,
        "title": record.title,
        "external_id": record.external_id,
        "media_kind": kind.value if isinstance(kind, MediaKind) else kind,
        "size": record.size,
        "etag": record.etag,
        "content_type": record.content_type,
        "last_modified": _utc(record.last_modified),
        "width": record.width,
        "height": record.height,
        "frame_count": record.frame_count,
        "media_metadata": _media_metadata(record.media_metadata),
        "client_metadata": _json_dict(record.client_metadata),
    }


def _dedupe(records: Iterable[FileRecord]) -> dict[str, dict[str, Any]]:
    """Column values by object URL; a URL repeated in the batch keeps its last record."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        values = record_values(record)
        out[values["object_url"]] = values
    return out


def _update_fields(skip_existing: bool, update_client_metadata: bool) -> tuple[str, ...]:
    """Columns an upsert compares and rewrites on existing rows."""
    meta = ("client_metadata",) if update_client_metadata else ()
    return meta if skip_existing else (*_CONTENT_FIELDS, *meta)


def _changes(
    new: dict[str, Any], current: dict[str, Any], fields: Sequence[str]
) -> dict[str, Any] | None:
    """``new``'s values of ``fields`` if any differs from ``current``, else ``None``."""
    if all(new[name] == current[name] for name in fields):
        return None
    return {name: new[name] for name in fields}


class FileWriter:
    """One connection and one open transaction for upserting files into a folder.

    Use as ``with catalog.writer(folder_id) as w: w.upsert(batch)``: it commits on a normal
    exit and rolls back on an exception; ``commit``/``rollback`` act on what was written since
    the last commit.
    """

    def __init__(self, catalog: Catalog, folder_id: int, conn: Connection | None = None) -> None:
        """With ``conn``, upserts run in that connection's transaction, which the caller owns
        (commits, rolls back and closes); without, the writer opens its own connection."""
        self.catalog = catalog
        self.folder_id = folder_id
        self._conn: Connection | None = conn or catalog.engine.connect()

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.close()

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("this FileWriter is closed")
        return self._conn

    def usage(self) -> tuple[int, int]:
        """(images, video frames) of the folder as this transaction sees it."""
        return self.catalog.folder_usage(self.folder_id, conn=self.conn)

    def commit(self) -> None:
        """Commit what was upserted so far; the next upsert starts a new transaction."""
        self.conn.commit()

    def rollback(self) -> None:
        """Undo everything upserted since the last commit."""
        self.conn.rollback()

    def close(self) -> None:
        """Return the connection (an uncommitted transaction is rolled back)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def upsert(
        self,
        records: Sequence[FileRecord],
        *,
        skip_existing: bool = False,
        update_client_metadata: bool = True,
    ) -> UpsertCounts:
        """Insert new URLs and update changed ones; a constant number of statements per batch.

        ``skip_existing`` leaves existing rows alone (counted skipped), except that together
        with ``update_client_metadata`` their client metadata is still replaced when it differs
        (counted updated). A URL repeated in ``records`` counts once, its last record wins.
        """
        return self.upsert_values(
            _dedupe(records),
            skip_existing=skip_existing,
            update_client_metadata=update_client_metadata,
        )

    def upsert_values(
        self,
        wanted: dict[str, dict[str, Any]],
        *,
        skip_existing: bool = False,
        update_client_metadata: bool = True,
    ) -> UpsertCounts:
        """:meth:`upsert` of validated column values by object URL (a staged batch)."""
        counts = UpsertCounts()
        if not wanted:
            return counts
        conn = self.conn
        existing = self.catalog._existing(conn, self.folder_id, list(wanted))
        new_rows = [values for url, values in wanted.items() if url not in existing]
        inserted = self._insert(new_rows)
        counts.created = len(inserted)
        lost = [row["object_url"] for row in new_rows if row["object_url"] not in inserted]
        if lost:  # inserted meanwhile by a concurrent writer: treat them as existing
            existing.update(self.catalog._existing(conn, self.folder_id, lost))
            counts.skipped += sum(url not in existing for url in lost)  # deleted again
        fields = _update_fields(skip_existing, update_client_metadata)
        updates: list[dict[str, Any]] = []
        for url, current in existing.items():
            change = _changes(wanted[url], current, fields) if fields else None
            if change is None and current["removed_at"] is not None:
                change = {name: wanted[url][name] for name in fields}  # back: un-mark it
            if change is not None:
                updates.append({"_id": current["id"], **change})
            elif skip_existing:
                counts.skipped += 1
            else:
                counts.unchanged += 1
        self._update(updates, fields)
        counts.updated = len(updates)
        return counts

    def _insert(self, rows: list[dict[str, Any]]) -> set[str]:
        """Bulk INSERT … ON CONFLICT DO NOTHING; returns the URLs actually inserted."""
        if not rows:
            return set()
        now = _now()
        if self.catalog.dialect == "postgresql":
            params = _pg_array_params(rows)
            params.update(folder_id=self.folder_id, now=now)
            return set(self.conn.scalars(_pg_insert_sql(), params))
        extra = {"folder_id": self.folder_id, "created_at": now, "updated_at": now}
        stmt = (
            sqlite.insert(files)
            .on_conflict_do_nothing(index_elements=[files.c.folder_id, files.c.object_url])
            .returning(files.c.object_url)
        )
        return set(self.conn.scalars(stmt, [{**row, **extra} for row in rows]))

    def _update(self, updates: list[dict[str, Any]], fields: Sequence[str]) -> None:
        """One executemany UPDATE of ``fields`` (+ updated_at) keyed by row id.

        A registered file is in its bucket, so a mark left by a prefix sync is cleared too.
        """
        if not updates:
            return
        now = _now()
        stmt = (
            files.update()
            .where(files.c.id == sa.bindparam("_id"))
            .values(
                {name: sa.bindparam(f"_{name}") for name in (*fields, "updated_at")}
                | {"removed_at": None}
            )
        )
        params = [
            {"_id": u["_id"], "_updated_at": now, **{f"_{name}": u[name] for name in fields}}
            for u in updates
        ]
        self.conn.execute(stmt, params)
