"""The :class:`Catalog`: folders, jobs and file reads, plus PostgreSQL bulk SQL helpers.

Only canonical, unsigned object URLs are stored; a URL carrying a signature is refused.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from orchestration_pkg.core.catalog.jobs import JobsMixin
from orchestration_pkg.core.catalog.lifecycle import LifecycleMixin
from orchestration_pkg.core.catalog.migrate import current_revision, upgrade
from orchestration_pkg.core.catalog.records import (
    FileRecord,
    Folder,
    _chunks,
    _file_record,
    _folder,
    _json_dict,
    _unsigned,
)
from orchestration_pkg.core.catalog.schema import (
    _CONTENT_FIELDS,
    DEFAULT_CATALOG_URL,
    _make_engine,
    _now,
    files,
    folders,
    normalize_db_url,
)
from orchestration_pkg.core.catalog.staging import StagingMixin
from orchestration_pkg.core.catalog.txn import run_write
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import MediaKind

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog.writer import FileWriter
    from orchestration_pkg.core.config import AppConfig

# URLs per existence lookup, so that a batch of a few thousand records takes one SELECT.
# PostgreSQL binds them as one array (= ANY(:urls)); SQLite binds one parameter per URL and
# allows 32766 of them since 3.32 (the catalog needs >= 3.35 for RETURNING anyway).
_IN_CHUNK = 5_000

_INSERT_FIELDS = ("object_url", *_CONTENT_FIELDS, "client_metadata")
_JSON_FIELDS = frozenset({"media_metadata", "client_metadata"})


@functools.lru_cache(maxsize=1)
def _pg_insert_sql() -> sa.TextClause:
    """PostgreSQL bulk insert: one array parameter per column, ``unnest``-ed server side.

    Much cheaper than a 1000-row multi-VALUES statement (thousands of placeholders to parse
    on both ends); JSON columns travel as text arrays and are cast to jsonb.
    """
    pg = postgresql.dialect()
    arrays, picks = [], []
    for name in _INSERT_FIELDS:
        column_type = files.c[name].type
        text_like = name in _JSON_FIELDS or isinstance(column_type, sa.String)
        # TEXT, not VARCHAR(n): an explicit cast would silently truncate overlong values
        sql_type = "TEXT" if text_like else column_type.compile(dialect=pg)
        arrays.append(f"CAST(:{name} AS {sql_type}[])")
        picks.append(f"u.{name}::jsonb" if name in _JSON_FIELDS else f"u.{name}")
    columns = ", ".join(f'"{name}"' for name in _INSERT_FIELDS)
    return sa.text(
        f"INSERT INTO {files.name} (folder_id, created_at, updated_at, {columns}) "
        f"SELECT :folder_id, :now, :now, {', '.join(picks)} "
        f"FROM unnest({', '.join(arrays)}) AS u({', '.join(_INSERT_FIELDS)}) "
        "ON CONFLICT (folder_id, object_url) DO NOTHING RETURNING object_url"
    )


def _pg_array_params(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Column-wise lists of ``rows`` for :func:`_pg_insert_sql`."""
    params: dict[str, Any] = {}
    for name in _INSERT_FIELDS:
        if name in _JSON_FIELDS:
            params[name] = [json.dumps(row[name]) for row in rows]
        else:
            params[name] = [row[name] for row in rows]
    return params


# --------------------------------------------------------------------------- catalog


class Catalog(JobsMixin, LifecycleMixin, StagingMixin):
    """Folders, files and jobs in one SQL database (schema migrated to the newest on open).

    ``stale_after_s``: a PENDING/RUNNING job without a heartbeat for this long is ABANDONED by
    the next sweep; ``busy_timeout_s``: how long one write waits for a busy catalog (config
    ``jobs:``).
    """

    def __init__(
        self,
        url: str = DEFAULT_CATALOG_URL,
        *,
        stale_after_s: float = 120.0,
        busy_timeout_s: float = 60.0,
    ) -> None:
        parsed = make_url(normalize_db_url(url))
        self.stale_after_s = stale_after_s
        self.busy_timeout_s = busy_timeout_s
        self.display_url: str = parsed.render_as_string(hide_password=True)
        self.engine: Engine = _make_engine(parsed)
        self.dialect: str = self.engine.dialect.name
        upgrade(self.engine)

    @classmethod
    def for_config(cls, config: AppConfig) -> Catalog:
        """The catalog of a config: its ``catalog`` URL with its ``jobs:`` settings."""
        jobs_cfg = config.jobs
        return cls(
            config.catalog,
            stale_after_s=jobs_cfg.stale_after_s,
            busy_timeout_s=jobs_cfg.busy_timeout_s,
        )

    def __repr__(self) -> str:
        return f"Catalog({self.display_url!r})"

    def schema_version(self) -> str | None:
        """The schema revision the database is at (the newest one once opened)."""
        with self.engine.connect() as conn:
            return current_revision(conn)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # ---------------------------------------------------------------- folders

    def _folder_query(self) -> sa.Select[Any]:
        present = files.c.removed_at.is_(None)  # rows a sync marked removed do not count
        count = sa.func.count(files.c.id).filter(present).label("file_count")
        total = sa.func.coalesce(sa.func.sum(files.c.size).filter(present), 0)
        total = total.label("total_bytes")
        return (
            sa.select(*folders.c, count, total)
            .select_from(folders.outerjoin(files, files.c.folder_id == folders.c.id))
            .group_by(folders.c.id)  # other folder columns depend on the primary key
        )

    def _load_folder(self, conn: Connection, name: str) -> Folder | None:
        row = conn.execute(self._folder_query().where(folders.c.name == name)).first()
        return _folder(row) if row is not None else None

    def ensure_folder(
        self,
        name: str,
        description: str | None = None,
        client_metadata: dict[str, Any] | None = None,
    ) -> Folder:
        """The folder ``name``, created if missing; given description/metadata are applied."""
        if not name or not name.strip():
            raise ValueError("a folder name must not be empty")
        meta = _json_dict(client_metadata) if client_metadata is not None else None
        return run_write(
            self,
            lambda conn: self._ensure_folder(conn, name, description, meta),
            what="write a folder",
        )

    def _ensure_folder(
        self, conn: Connection, name: str, description: str | None, meta: dict[str, Any] | None
    ) -> Folder:
        folder = self._load_folder(conn, name)
        if folder is None:
            values = {
                "name": name,
                "description": description,
                "client_metadata": meta or {},
                "created_at": _now(),
            }
            stmt = self._dialect_insert(folders).values(**values)
            conn.execute(stmt.on_conflict_do_nothing(index_elements=[folders.c.name]))
            folder = self._load_folder(conn, name)
            assert folder is not None
            return folder
        changes: dict[str, Any] = {}
        if description is not None and description != folder.description:
            changes["description"] = description
        if meta is not None and meta != folder.client_metadata:
            changes["client_metadata"] = meta
        if changes:
            conn.execute(folders.update().where(folders.c.id == folder.id).values(changes))
            folder.description = changes.get("description", folder.description)
            folder.client_metadata = changes.get("client_metadata", folder.client_metadata)
        return folder

    def get_folder(self, name: str) -> Folder:
        """The folder ``name`` with its file count and size; ``NotFoundError`` if unknown."""
        with self.engine.connect() as conn:
            folder = self._load_folder(conn, name)
        if folder is None:
            raise NotFoundError(f"unknown folder '{name}'")
        return folder

    def list_folders(self) -> list[Folder]:
        """Every folder by name, with file counts and total bytes (one query)."""
        with self.engine.connect() as conn:
            rows = conn.execute(self._folder_query().order_by(folders.c.name)).all()
        return [_folder(row) for row in rows]

    def _folder_id(self, conn: Connection, name: str) -> int:
        folder_id = conn.scalar(sa.select(folders.c.id).where(folders.c.name == name))
        if folder_id is None:
            raise NotFoundError(f"unknown folder '{name}'")
        return int(folder_id)

    # ---------------------------------------------------------------- files

    def iter_files(
        self,
        folder: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        include_removed: bool = False,
    ) -> Iterator[FileRecord]:
        """Stream the files of ``folder`` ordered by key (``NotFoundError`` raised at once).

        Rows a prefix sync marked removed (``removed_at`` set) only with ``include_removed``.
        """
        with self.engine.connect() as conn:
            folder_id = self._folder_id(conn, folder)
        stmt = sa.select(files).where(files.c.folder_id == folder_id)
        if not include_removed:
            stmt = stmt.where(files.c.removed_at.is_(None))
        stmt = stmt.order_by(files.c.key, files.c.id).offset(offset or None).limit(limit)
        return self._stream_files(stmt)

    def _stream_files(self, stmt: sa.Select[Any]) -> Iterator[FileRecord]:
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(stmt)
            for row in result:
                yield _file_record(row)

    def count_files(self, folder: str, *, include_removed: bool = False) -> int:
        """How many files ``folder`` holds (rows marked removed only with the flag)."""
        with self.engine.connect() as conn:
            folder_id = self._folder_id(conn, folder)
            stmt = sa.select(sa.func.count()).where(files.c.folder_id == folder_id)
            if not include_removed:
                stmt = stmt.where(files.c.removed_at.is_(None))
            return int(conn.scalar(stmt) or 0)

    def find_file(self, folder: str, key_or_url: str) -> FileRecord:
        """A file of ``folder`` by object URL (preferred) or key; ``NotFoundError`` if none."""
        with self.engine.connect() as conn:
            folder_id = self._folder_id(conn, folder)
            is_url = files.c.object_url == key_or_url
            stmt = (
                sa.select(files)
                .where(files.c.folder_id == folder_id)
                .where(sa.or_(is_url, files.c.key == key_or_url))
                .order_by(sa.case((is_url, 0), else_=1), files.c.id)
                .limit(1)
            )
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"no file '{_unsigned(key_or_url)}' in folder '{folder}'")
        return _file_record(row)

    def writer(self, folder_id: int) -> FileWriter:
        """A transactional writer of files into the folder with id ``folder_id``."""
        from orchestration_pkg.core.catalog.writer import FileWriter  # writer imports us

        return FileWriter(self, folder_id)

    def _dialect_insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT (it has ``on_conflict_do_nothing``)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _url_filter(self, urls: Sequence[str]) -> sa.ColumnElement[bool]:
        if self.dialect == "postgresql":
            array = sa.bindparam("urls", list(urls), type_=postgresql.ARRAY(sa.Text))
            return files.c.object_url == sa.any_(array)
        return files.c.object_url.in_(list(urls))

    def _existing(
        self, conn: Connection, folder_id: int, urls: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Current rows of ``urls`` in the folder: one SELECT per chunk of URLs."""
        columns = [files.c.id, files.c.object_url, files.c.client_metadata, files.c.removed_at]
        columns += [files.c[name] for name in _CONTENT_FIELDS]
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(urls, _IN_CHUNK):
            stmt = sa.select(*columns).where(
                files.c.folder_id == folder_id, self._url_filter(chunk)
            )
            for row in conn.execute(stmt):
                found[row.object_url] = dict(row._mapping)
        return found

    # ---------------------------------------------------------------- usage

    def folder_usage(self, folder_id: int, conn: Connection | None = None) -> tuple[int, int]:
        """(images, video frames) registered in a folder, for quotas; one query. With ``conn``
        (a writer's), uncommitted rows of that transaction count too."""
        image_kinds = (MediaKind.IMAGE.value, MediaKind.IMAGE_GROUP.value)
        stmt = sa.select(
            sa.func.count().filter(files.c.media_kind.in_(image_kinds)),
            sa.func.coalesce(sa.func.sum(files.c.frame_count), 0),
        ).where(files.c.folder_id == folder_id)
        if conn is not None:
            images, frames = conn.execute(stmt).one()
        else:
            with self.engine.connect() as own:
                images, frames = own.execute(stmt).one()
        return int(images or 0), int(frames or 0)
