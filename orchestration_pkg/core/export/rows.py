"""The rows an export writes: a folder's live files in key byte order, read page by page.

Keyset pagination (``WHERE (key, id) > (:last_key, :last_id) ORDER BY key, id LIMIT n``), each
page on its own short connection: memory is bounded by the page size and no transaction stays
open while the pages are written (or URLs signed). Keys compare byte-wise on both backends
(SQLite's BINARY collation; ``COLLATE "C"`` on PostgreSQL, served by the expression index
``ix_op_files_export_order`` of migration 0008), so an export lists the same order everywhere.
Rows a sync marked removed are never exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from orchestration_pkg.core.catalog.schema import files

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog

PAGE_SIZE = 5_000


@dataclass(frozen=True)
class RowFilter:
    """Which rows: a media kind, a key prefix, changed at or after a time (all optional)."""

    kind: str | None = None
    prefix: str = ""
    since: datetime | None = None


@dataclass(slots=True)
class ExportRow:
    """What the export formats read of one catalog row."""

    id: int
    key: str
    object_url: str
    integration: str
    media_kind: str | None
    title: str | None
    external_id: str | None
    size: int | None
    content_type: str | None
    width: int | None
    height: int | None
    media_metadata: dict[str, Any]
    client_metadata: dict[str, Any]


# In the order of ExportRow's fields (rows are built positionally: the fast way).
_COLUMNS = (
    files.c.id,
    files.c.key,
    files.c.object_url,
    files.c.integration,
    files.c.media_kind,
    files.c.title,
    files.c.external_id,
    files.c.size,
    files.c.content_type,
    files.c.width,
    files.c.height,
    files.c.media_metadata,
    files.c.client_metadata,
)


def _byte_order(catalog: Catalog) -> sa.ColumnElement[str]:
    return files.c.key.collate("C") if catalog.dialect == "postgresql" else files.c.key


def _conditions(catalog: Catalog, folder_id: int, where: RowFilter) -> list[Any]:
    key = _byte_order(catalog)
    conditions: list[Any] = [files.c.folder_id == folder_id, files.c.removed_at.is_(None)]
    if where.kind:
        conditions.append(files.c.media_kind == where.kind)
    if where.since is not None:
        conditions.append(files.c.updated_at >= where.since)
    if where.prefix:
        conditions.append(key >= where.prefix)
        upper = _prefix_end(where.prefix)
        if upper is not None:
            conditions.append(key < upper)
    return conditions


def _prefix_end(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` (code point order is
    UTF-8 byte order); None when there is none (a prefix of U+10FFFF only)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not characters: skip them
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


def count_rows(catalog: Catalog, folder_id: int, where: RowFilter) -> int:
    """How many rows :func:`iter_rows` yields (one COUNT on a short connection)."""
    stmt = (
        sa.select(sa.func.count()).select_from(files).where(*_conditions(catalog, folder_id, where))
    )
    with catalog.engine.connect() as conn:
        return int(conn.scalar(stmt) or 0)


def iter_rows(
    catalog: Catalog, folder_id: int, where: RowFilter, *, page_size: int | None = None
) -> Iterator[ExportRow]:
    """The folder's live rows matching ``where``, in key byte order (then id)."""
    page_size = page_size or PAGE_SIZE
    key = _byte_order(catalog)
    base = sa.select(*_COLUMNS).where(*_conditions(catalog, folder_id, where))
    after: tuple[str, int] | None = None
    while True:
        stmt = base.order_by(key, files.c.id).limit(page_size)
        if after is not None:
            stmt = stmt.where(sa.tuple_(key, files.c.id) > sa.tuple_(*after))
        with catalog.engine.connect() as conn:
            page = conn.execute(stmt).all()
        for row in page:
            item = ExportRow(*row)  # _COLUMNS are in ExportRow's field order
            if item.media_metadata is None:
                item.media_metadata = {}
            if item.client_metadata is None:
                item.client_metadata = {}
            yield item
        if len(page) < page_size:
            return
        after = (page[-1].key, page[-1].id)
