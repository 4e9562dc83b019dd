"""The dataset catalog: folders, registered files, upload jobs and their unit errors.

Built on SQLAlchemy 2 Core and usable on SQLite (default, WAL mode) and PostgreSQL (psycopg 3).
Only canonical, unsigned object URLs are stored; a URL carrying a signature is refused.

Writes go through :class:`FileWriter`, which upserts whole batches with a constant number of
statements: one lookup of existing rows, one bulk ``INSERT … ON CONFLICT DO NOTHING`` and one
bulk ``UPDATE`` (executemany). Re-running a registration is therefore cheap and idempotent.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import JobResult, JobStatus, MediaKind, MediaMetadata, UnitError

__all__ = [
    "DEFAULT_CATALOG_URL",
    "Catalog",
    "FileRecord",
    "FileWriter",
    "Folder",
    "UpsertCounts",
    "is_signed_url",
    "normalize_db_url",
    "redact_db_url",
]

DEFAULT_CATALOG_URL = "sqlite:///catalog.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# URLs per existence lookup, so that a batch of a few thousand records takes one SELECT.
# PostgreSQL binds them as one array (= ANY(:urls)); SQLite binds one parameter per URL and
# allows 32766 of them since 3.32 (the catalog needs >= 3.35 for RETURNING anyway).
_IN_CHUNK = 5_000
_UNIT_ERROR_CHUNK = 5_000
_SIGNATURE_PARAMS = frozenset({"x-amz-signature", "x-goog-signature", "sig", "signature"})
_SIGNATURE_TOKENS = ("x-amz-signature", "x-goog-signature", "sig=", "signature=")
_QUERY_IN_TEXT = re.compile(r"\?[^\s'\"<>]*")
_JOB_COUNTS = (
    "total",
    "registered",
    "created",
    "updated",
    "unchanged",
    "skipped",
    "failed",
    "bytes_read",
    "requests",
)
# Columns a re-run compares (and rewrites when one differs); client_metadata is handled apart.
_CONTENT_FIELDS = (
    "integration",
    "key",
    "title",
    "external_id",
    "media_kind",
    "size",
    "etag",
    "content_type",
    "last_modified",
    "width",
    "height",
    "frame_count",
    "media_metadata",
)


# --------------------------------------------------------------------------- column types


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (naive input is taken as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return _utc(value)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return _utc(value)


def _utc(value: datetime | None) -> datetime | None:
    """Normalise a datetime to aware UTC; naive values are assumed to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER

# --------------------------------------------------------------------------- schema

metadata = sa.MetaData()

folders = sa.Table(
    "op_folders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("client_metadata", _JSON, nullable=False, default=dict),
    sa.Column("created_at", UTCDateTime, nullable=False, default=_now),
    sa.CheckConstraint("name <> ''", name="ck_op_folders_name_not_empty"),
)

files = sa.Table(
    "op_files",
    metadata,
    sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
    sa.Column(
        "folder_id",
        sa.Integer,
        sa.ForeignKey("op_folders.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("integration", sa.String(255), nullable=False),
    sa.Column("object_url", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("title", sa.Text),
    sa.Column("external_id", sa.Text),
    sa.Column("media_kind", sa.String(32)),
    sa.Column("size", sa.BigInteger),
    sa.Column("etag", sa.Text),
    sa.Column("content_type", sa.Text),
    sa.Column("last_modified", UTCDateTime),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("frame_count", sa.BigInteger),
    sa.Column("media_metadata", _JSON, nullable=False, default=dict),
    sa.Column("client_metadata", _JSON, nullable=False, default=dict),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("folder_id", "object_url", name="uq_op_files_folder_url"),
    sa.Index("ix_op_files_folder_key", "folder_id", "key"),
)

jobs = sa.Table(
    "op_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "folder_id",
        sa.Integer,
        sa.ForeignKey("op_folders.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("integration", sa.String(255), nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ignore_errors", sa.Boolean, nullable=False, default=False),
    sa.Column("options", _JSON, nullable=False, default=dict),
    *(sa.Column(name, sa.BigInteger, nullable=False, default=0) for name in _JOB_COUNTS),
    sa.Column("by_kind", _JSON, nullable=False, default=dict),
    sa.Column("stats", _JSON, nullable=False, default=dict),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Index("ix_op_jobs_folder_created", "folder_id", "created_at"),
    sa.Index("ix_op_jobs_created", "created_at"),
)

unit_errors = sa.Table(
    "op_unit_errors",
    metadata,
    sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.String(32),
        sa.ForeignKey("op_jobs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("row", sa.Integer, nullable=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("level", sa.String(8), nullable=False, default="error"),
)

# --------------------------------------------------------------------------- data classes


@dataclass
class Folder:
    """A catalog folder, with how many files it holds and their total size."""

    id: int
    name: str
    description: str | None
    client_metadata: dict[str, Any]
    created_at: datetime
    file_count: int = 0
    total_bytes: int = 0


@dataclass
class FileRecord:
    """One registered object; ``id``/``created_at``/``updated_at`` are filled on reads only."""

    object_url: str
    key: str
    integration: str
    size: int | None = None
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
    media_kind: str | None = None
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    title: str | None = None
    external_id: str | None = None
    media_metadata: dict[str, Any] = field(default_factory=dict)
    client_metadata: dict[str, Any] = field(default_factory=dict)
    id: int | None = field(default=None, compare=False)
    created_at: datetime | None = field(default=None, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)


@dataclass
class UpsertCounts:
    """What one or more ``upsert`` calls did, record by record."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        return self

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped


# --------------------------------------------------------------------------- URL helpers


def normalize_db_url(url: str) -> str:
    """Rewrite ``postgres://`` and ``postgresql://`` to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_db_url(url: str) -> str:
    """The database URL with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _query_is_signed(query: str) -> bool:
    """Whether a query string carries a signature (AWS SigV4/V2, GCS V4, Azure SAS)."""
    if not query:
        return False
    lowered = query.lower()
    if any(token in lowered for token in _SIGNATURE_TOKENS):
        return True
    names = {name.lower() for name, _ in parse_qsl(query, keep_blank_values=True)}
    return bool(names & _SIGNATURE_PARAMS)


def is_signed_url(url: str) -> bool:
    """Whether ``url`` carries a signature (S3/GCS presigned URL, Azure SAS)."""
    return _query_is_signed(urlsplit(url).query)


def _strip_query(url: str) -> str:
    """``url`` without query string and fragment (used before storing or printing)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _unsigned(url: str) -> str:
    """``url`` itself, or without its query when that query carries a signature."""
    return _strip_query(url) if is_signed_url(url) else url


def _redact_text(text: str | None) -> str | None:
    """Drop signed query strings from free text (error messages)."""
    if not text:
        return text

    def _sub(match: re.Match[str]) -> str:
        signed = _query_is_signed(match.group(0)[1:])
        return "?<signed query redacted>" if signed else match.group(0)

    return _QUERY_IN_TEXT.sub(_sub, text)


def _check_unsigned(url: str) -> None:
    """Refuse a URL carrying a signature: the catalog keeps canonical URLs only."""
    if is_signed_url(url):
        raise ValueError(
            f"refusing to store a signed URL ({_strip_query(url)}?<signed query>): "
            "store the canonical unsigned URL"
        )


# --------------------------------------------------------------------------- row helpers


def _json_dict(value: Any) -> dict[str, Any]:
    """A plain JSON-round-tripped dict (so stored and compared values look alike)."""
    if not value:
        return {}
    return json.loads(json.dumps(dict(value)))


def _media_metadata(value: dict[str, Any] | MediaMetadata | None) -> dict[str, Any]:
    if isinstance(value, MediaMetadata):
        return _json_dict(value.model_dump(exclude_none=True))
    return _json_dict({k: v for k, v in (value or {}).items() if v is not None})


def _record_values(record: FileRecord) -> dict[str, Any]:
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
        values = _record_values(record)
        out[values["object_url"]] = values
    return out


def _file_record(row: sa.Row[Any]) -> FileRecord:
    m = row._mapping
    return FileRecord(
        object_url=m["object_url"],
        key=m["key"],
        integration=m["integration"],
        size=m["size"],
        etag=m["etag"],
        content_type=m["content_type"],
        last_modified=m["last_modified"],
        media_kind=m["media_kind"],
        width=m["width"],
        height=m["height"],
        frame_count=m["frame_count"],
        title=m["title"],
        external_id=m["external_id"],
        media_metadata=dict(m["media_metadata"] or {}),
        client_metadata=dict(m["client_metadata"] or {}),
        id=m["id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _folder(row: sa.Row[Any]) -> Folder:
    m = row._mapping
    return Folder(
        id=m["id"],
        name=m["name"],
        description=m["description"],
        client_metadata=dict(m["client_metadata"] or {}),
        created_at=m["created_at"],
        file_count=int(m["file_count"] or 0),
        total_bytes=int(m["total_bytes"] or 0),
    )


def _job_result(
    row: sa.Row[Any],
    errors: list[UnitError] | None = None,
    warnings: list[UnitError] | None = None,
) -> JobResult:
    m = row._mapping
    return JobResult(
        job_id=m["id"],
        folder=m["folder"],
        integration=m["integration"],
        status=JobStatus(m["status"]),
        **{name: int(m[name] or 0) for name in _JOB_COUNTS},
        by_kind=dict(m["by_kind"] or {}),
        stats=dict(m["stats"] or {}),
        unit_errors=errors or [],
        warnings=warnings or [],
        error=m["error"],
        created_at=m["created_at"],
        finished_at=m["finished_at"],
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


# --------------------------------------------------------------------------- engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL, busy timeout and foreign keys for every new SQLite connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _make_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if sqlite3.sqlite_version_info < (3, 35):
            raise ValueError(f"the catalog needs SQLite >= 3.35, found {sqlite3.sqlite_version}")
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        # No server-side prepared statements: a generic plan cached while a table was still
        # small (no statistics yet) turns the ``object_url = ANY(:urls)`` lookup into a
        # per-row scan of the whole array; custom plans hash it. Also safe behind PgBouncer.
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"prepare_threshold": None})
    raise ValueError(
        f"unsupported catalog database '{backend}': use sqlite:///path.db or postgresql://…"
    )


# --------------------------------------------------------------------------- catalog


class Catalog:
    """Folders, files and jobs in one SQL database (tables are created on open)."""

    def __init__(self, url: str = DEFAULT_CATALOG_URL) -> None:
        parsed = make_url(normalize_db_url(url))
        self.display_url: str = parsed.render_as_string(hide_password=True)
        self.engine: Engine = _make_engine(parsed)
        self.dialect: str = self.engine.dialect.name
        metadata.create_all(self.engine)

    def __repr__(self) -> str:
        return f"Catalog({self.display_url!r})"

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

    def list_jobs(
        self, folder: str | None = None, limit: int = 50, status: str | None = None
    ) -> list[JobResult]:
        """Most recent jobs first (optionally of one folder / status), without unit errors."""
        stmt = self._job_query().order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
        if status is not None:
            stmt = stmt.where(jobs.c.status == status)
        with self.engine.connect() as conn:
            if folder is not None:
                stmt = stmt.where(jobs.c.folder_id == self._folder_id(conn, folder))
            rows = conn.execute(stmt).all()
        return [_job_result(row) for row in rows]


# --------------------------------------------------------------------------- writer


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

    def __init__(self, catalog: Catalog, folder_id: int) -> None:
        self.catalog = catalog
        self.folder_id = folder_id
        self._conn: Connection | None = catalog.engine.connect()

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
        counts = UpsertCounts()
        wanted = _dedupe(records)
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
        """One executemany UPDATE of ``fields`` (+ updated_at) keyed by row id."""
        if not updates:
            return
        now = _now()
        stmt = (
            files.update()
            .where(files.c.id == sa.bindparam("_id"))
            .values({name: sa.bindparam(f"_{name}") for name in (*fields, "updated_at")})
        )
        params = [
            {"_id": u["_id"], "_updated_at": now, **{f"_{name}": u[name] for name in fields}}
            for u in updates
        ]
        self.conn.execute(stmt, params)
