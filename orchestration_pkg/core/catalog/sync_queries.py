"""Catalog side of a prefix sync: one integration's rows of a folder in key byte order, and
the removals a sync applies afterwards, in short transactions.

Rows are read by keyset pagination (``WHERE (key, id) > (:last_key, :last_id) ORDER BY key, id
LIMIT n``), each page on its own short connection: memory is bounded by the page size and no
transaction stays open while the bucket is being listed. Keys are compared byte-wise, as
bucket listings order them: SQLite's default BINARY collation compares UTF-8 bytes;
PostgreSQL uses the database collation unless told otherwise, hence ``COLLATE "C"``, and
the expression index ``ix_op_files_sync_order`` (migration 0005) in exactly this order:
``(folder_id, integration, (key COLLATE "C"), id)``, so a page is an index range, not a sort.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from orchestration_pkg.core.catalog.records import _chunks
from orchestration_pkg.core.catalog.schema import _now, files
from orchestration_pkg.core.catalog.txn import run_write

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog.queries import Catalog

PAGE_SIZE = 5_000
WRITE_CHUNK = 1_000


@dataclass(frozen=True)
class SyncRow:
    """What a sync compares of one catalog row (and carries over when it rewrites it)."""

    id: int
    object_url: str
    key: str
    size: int | None
    etag: str | None
    last_modified: datetime | None
    removed_at: datetime | None
    title: str | None = None
    external_id: str | None = None
    client_metadata: dict[str, Any] = field(default_factory=dict)


def _byte_order(catalog: Catalog, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``column`` compared and ordered by UTF-8 bytes, as bucket listings are."""
    return column.collate("C") if catalog.dialect == "postgresql" else column


def iter_sync_rows(
    catalog: Catalog,
    folder_id: int,
    integration: str,
    key_prefix: str,
    *,
    page_size: int | None = None,
) -> Iterator[SyncRow]:
    """Rows of ``integration`` in the folder whose key starts with ``key_prefix``, by key.

    Keys under one prefix are contiguous in byte order: the pages start at the prefix and end
    at the first key past it. Removed-marked rows are included (a sync un-marks or removes
    them).
    """
    page_size = page_size or PAGE_SIZE
    key = _byte_order(catalog, files.c.key)
    columns = (
        files.c.id,
        files.c.object_url,
        files.c.key,
        files.c.size,
        files.c.etag,
        files.c.last_modified,
        files.c.removed_at,
        files.c.title,
        files.c.external_id,
        files.c.client_metadata,
    )
    base = sa.select(*columns).where(
        files.c.folder_id == folder_id, files.c.integration == integration
    )
    after: tuple[str, int] | None = None
    while True:
        stmt = base.order_by(key, files.c.id).limit(page_size)
        if after is None:
            stmt = stmt.where(key >= key_prefix)
        else:
            last_key, last_id = after
            # a row comparison: PostgreSQL turns it into one range of ix_op_files_sync_order
            stmt = stmt.where(sa.tuple_(key, files.c.id) > sa.tuple_(last_key, last_id))
        with catalog.engine.connect() as conn:
            page = conn.execute(stmt).all()
        for row in page:
            if not row.key.startswith(key_prefix):
                return
            yield SyncRow(
                id=row.id,
                object_url=row.object_url,
                key=row.key,
                size=row.size,
                etag=row.etag,
                last_modified=row.last_modified,
                removed_at=row.removed_at,
                title=row.title,
                external_id=row.external_id,
                client_metadata=dict(row.client_metadata or {}),
            )
        if len(page) < page_size:
            return
        after = (page[-1].key, page[-1].id)


def rows_for_urls(
    catalog: Catalog, folder_id: int, integration: str, urls: Iterable[str]
) -> Iterator[SyncRow]:
    """Rows of ``integration`` in the folder with one of ``urls`` (an event's deleted objects),
    read in chunks, each on its own short connection."""
    for part in _chunks(list(urls), WRITE_CHUNK):
        stmt = sa.select(files.c.id, files.c.object_url, files.c.key, files.c.removed_at).where(
            files.c.folder_id == folder_id,
            files.c.integration == integration,
            files.c.object_url.in_(part),
        )
        with catalog.engine.connect() as conn:
            page = conn.execute(stmt).all()
        for row in page:
            yield SyncRow(
                id=row.id,
                object_url=row.object_url,
                key=row.key,
                size=None,
                etag=None,
                last_modified=None,
                removed_at=row.removed_at,
            )


def mark_removed(catalog: Catalog, ids: Iterable[int], *, chunk: int = WRITE_CHUNK) -> int:
    """Set ``removed_at`` on rows not marked yet; one short transaction per chunk."""
    return _apply(catalog, ids, chunk, remove=False)


def delete_rows(catalog: Catalog, ids: Iterable[int], *, chunk: int = WRITE_CHUNK) -> int:
    """Delete rows by id; one short transaction per chunk."""
    return _apply(catalog, ids, chunk, remove=True)


def _apply(catalog: Catalog, ids: Iterable[int], chunk: int, *, remove: bool) -> int:
    done = 0
    for part in _batched(ids, chunk):
        if remove:
            stmt: Any = files.delete().where(files.c.id.in_(part))
        else:
            stmt = (
                files.update()
                .where(files.c.id.in_(part), files.c.removed_at.is_(None))
                .values(removed_at=_now())
            )
        done += run_write(catalog, lambda conn, s=stmt: conn.execute(s).rowcount or 0)
    return done


def _batched(ids: Iterable[int], size: int) -> Iterator[Sequence[int]]:
    if isinstance(ids, Sequence):
        yield from _chunks(ids, size)
        return
    part: list[int] = []
    for one in ids:
        part.append(one)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def etags_in_range(
    catalog: Catalog, folder_id: int, integration: str, first_key: str, last_key: str
) -> dict[str, tuple[str | None, int | None]]:
    """key → (ETag, size) of the folder's live rows of ``integration`` with
    ``first_key <= key <= last_key`` (byte order): what a watch sensor compares one listing
    page against. Rows marked removed are left out (their objects count as new)."""
    key = _byte_order(catalog, files.c.key)
    stmt = sa.select(files.c.key, files.c.etag, files.c.size).where(
        files.c.folder_id == folder_id,
        files.c.integration == integration,
        files.c.removed_at.is_(None),
        key >= first_key,
        key <= last_key,
    )
    with catalog.engine.connect() as conn:
        return {row.key: (row.etag, row.size) for row in conn.execute(stmt)}


def rows_for_keys(
    catalog: Catalog, folder_id: int, integration: str, keys: Sequence[str]
) -> list[dict[str, Any]]:
    """key, URL, media kind, size, width, height, media metadata, and what a manifest once gave
    (title, external id, client metadata) of the folder's rows of ``integration`` among
    ``keys``, in key order: a watch batch's carry-over before and preview after."""
    stmt = (
        sa.select(
            files.c.key,
            files.c.object_url,
            files.c.title,
            files.c.external_id,
            files.c.client_metadata,
            files.c.media_kind,
            files.c.size,
            files.c.width,
            files.c.height,
            files.c.media_metadata,
        )
        .where(
            files.c.folder_id == folder_id,
            files.c.integration == integration,
            files.c.key.in_(list(keys)),
        )
        .order_by(files.c.key)
    )
    with catalog.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]
