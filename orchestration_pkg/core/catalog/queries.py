"""The :class:`Catalog`: folders, jobs and file reads, plus PostgreSQL bulk SQL helpers.

Only canonical, unsigned object URLs are stored; a URL carrying a signature is refused.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from orchestration_pkg.core.catalog.migrate import current_revision, upgrade
from orchestration_pkg.core.catalog.records import (
    FileRecord,
    Folder,
    _chunks,
    _file_record,
    _folder,
    _job_result,
    _json_dict,
    _redact_text,
    _unsigned,
)
from orchestration_pkg.core.catalog.schema import (
    _CONTENT_FIELDS,
    _JOB_COUNTS,
    DEFAULT_CATALOG_URL,
    _make_engine,
    _now,
    files,
    folders,
    jobs,
    normalize_db_url,
    unit_errors,
)
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import JobResult, JobStatus, MediaKind, UnitError

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog.writer import FileWriter

# URLs per existence lookup, so that a batch of a few thousand records takes one SELECT.
# PostgreSQL binds them as one array (= ANY(:urls)); SQLite binds one parameter per URL and
# allows 32766 of them since 3.32 (the catalog needs >= 3.35 for RETURNING anyway).
_IN_CHUNK = 5_000
_UNIT_ERROR_CHUNK = 5_000

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


class Catalog:
    """Folders, files and jobs in one SQL database (schema migrated to the newest on open)."""

    def __init__(self, url: str = DEFAULT_CATALOG_URL) -> None:
        parsed = make_url(normalize_db_url(url))
        self.display_url: str = parsed.render_as_string(hide_password=True)
        self.engine: Engine = _make_engine(parsed)
        self.dialect: str = self.engine.dialect.name
        upgrade(self.engine)

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
        count = sa.func.count(files.c.id).label("file_count")
        total = sa.func.coalesce(sa.func.sum(files.c.size), 0).label("total_bytes")
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
        with self.engine.begin() as conn:
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
        self, folder: str, *, limit: int | None = None, offset: int = 0
    ) -> Iterator[FileRecord]:
        """Stream the files of ``folder`` ordered by key (``NotFoundError`` raised at once)."""
        with self.engine.connect() as conn:
            folder_id = self._folder_id(conn, folder)
        stmt = (
            sa.select(files)
            .where(files.c.folder_id == folder_id)
            .order_by(files.c.key, files.c.id)
            .offset(offset or None)
            .limit(limit)
        )
        return self._stream_files(stmt)

    def _stream_files(self, stmt: sa.Select[Any]) -> Iterator[FileRecord]:
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(stmt)
            for row in result:
                yield _file_record(row)

    def count_files(self, folder: str) -> int:
        """How many files ``folder`` holds."""
        with self.engine.connect() as conn:
            folder_id = self._folder_id(conn, folder)
            stmt = sa.select(sa.func.count()).where(files.c.folder_id == folder_id)
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
        columns = [files.c.id, files.c.object_url, files.c.client_metadata]
        columns += [files.c[name] for name in _CONTENT_FIELDS]
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(urls, _IN_CHUNK):
            stmt = sa.select(*columns).where(
                files.c.folder_id == folder_id, self._url_filter(chunk)
            )
            for row in conn.execute(stmt):
                found[row.object_url] = dict(row._mapping)
        return found

    # ---------------------------------------------------------------- jobs

    def create_job(
        self,
        folder_id: int,
        integration: str,
        manifest: str,
        *,
        ignore_errors: bool,
        options: dict[str, Any] | None = None,
    ) -> str:
        """Record a PENDING job (committed at once) and return its id."""
        job_id = uuid.uuid4().hex
        values = {
            "id": job_id,
            "folder_id": folder_id,
            "integration": integration,
            "manifest": _unsigned(manifest),
            "status": JobStatus.PENDING.value,
            "ignore_errors": bool(ignore_errors),
            "options": _json_dict(options),
            "by_kind": {},
            "stats": {},
            "created_at": _now(),
            **dict.fromkeys(_JOB_COUNTS, 0),
        }
        with self.engine.begin() as conn:
            conn.execute(jobs.insert().values(values))
        return job_id

    def finish_job(self, result: JobResult) -> None:
        """Store the outcome of a job and all its unit errors in one transaction."""
        values = {
            "status": result.status.value,
            **{name: int(getattr(result, name)) for name in _JOB_COUNTS},
            "by_kind": _json_dict(result.by_kind),
            "stats": _json_dict(result.stats),
            "error": _redact_text(result.error),
            "finished_at": result.finished_at or _now(),
        }
        errors = [
            {
                "job_id": result.job_id,
                "row": err.row,
                "url": _unsigned(err.url),
                "error": _redact_text(err.error) or "",
                "level": level,
            }
            for level, items in (("error", result.unit_errors), ("warning", result.warnings))
            for err in items
        ]
        with self.engine.begin() as conn:
            done = conn.execute(jobs.update().where(jobs.c.id == result.job_id).values(values))
            if done.rowcount == 0:
                raise NotFoundError(f"unknown job '{result.job_id}'")
            conn.execute(unit_errors.delete().where(unit_errors.c.job_id == result.job_id))
            for chunk in _chunks(errors, _UNIT_ERROR_CHUNK):
                conn.execute(unit_errors.insert(), list(chunk))

    def _job_query(self) -> sa.Select[Any]:
        return sa.select(jobs, folders.c.name.label("folder")).join(
            folders, folders.c.id == jobs.c.folder_id
        )

    def get_job(self, job_id: str) -> JobResult:
        """A job with its unit errors (by row); ``NotFoundError`` if unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(self._job_query().where(jobs.c.id == job_id)).first()
            if row is None:
                raise NotFoundError(f"unknown job '{job_id}'")
            stmt = (
                sa.select(
                    unit_errors.c.row, unit_errors.c.url, unit_errors.c.error, unit_errors.c.level
                )
                .where(unit_errors.c.job_id == job_id)
                .order_by(unit_errors.c.row.is_(None), unit_errors.c.row, unit_errors.c.id)
            )
            found: dict[str, list[UnitError]] = {"error": [], "warning": []}
            for r in conn.execute(stmt):
                found[r.level].append(UnitError(row=r.row, url=r.url, error=r.error))
        return _job_result(row, found["error"], found["warning"])

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

    def list_jobs(self, folder: str | None = None, limit: int = 50) -> list[JobResult]:
        """Most recent jobs first (optionally of one folder), without unit errors."""
        stmt = self._job_query().order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
        with self.engine.connect() as conn:
            if folder is not None:
                stmt = stmt.where(jobs.c.folder_id == self._folder_id(conn, folder))
            rows = conn.execute(stmt).all()
        return [_job_result(row) for row in rows]
