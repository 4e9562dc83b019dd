"""Catalog schema: tables, column types, engine creation and per-connection pragmas.

Built on SQLAlchemy 2 Core and usable on SQLite (default, WAL mode) and PostgreSQL (psycopg 3).
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_CATALOG_URL = "sqlite:///catalog.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
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
# The tables at the newest migration (``migrations/versions``); a change here needs a revision.

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
    sa.Column("removed_at", UTCDateTime, nullable=True),  # 0002
    sa.UniqueConstraint("folder_id", "object_url", name="uq_op_files_folder_url"),
    sa.Index("ix_op_files_folder_key", "folder_id", "key"),
)
# 0005: a sync's page order (key bytes, then id) on PostgreSQL, whose database collation is not
# byte order; SQLite's BINARY collation already is, so ix_op_files_folder_key serves it there.
sa.Index(
    "ix_op_files_sync_order",
    files.c.folder_id,
    files.c.integration,
    files.c.key.collate("C"),
    files.c.id,
).ddl_if(dialect="postgresql")

# 0008: an export's page order (key bytes, then id) on PostgreSQL, over the whole folder.
sa.Index(
    "ix_op_files_export_order",
    files.c.folder_id,
    files.c.key.collate("C"),
    files.c.id,
).ddl_if(dialect="postgresql")

jobs = sa.Table(
    "op_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(  # NULL once a failed job removed the folder it had created (0003)
        "folder_id",
        sa.Integer,
        sa.ForeignKey("op_folders.id", ondelete="SET NULL", name="fk_op_jobs_folder_id_op_folders"),
        nullable=True,
    ),
    sa.Column("folder_name", sa.String(255), nullable=True),  # 0003
    sa.Column("created_folder", sa.Boolean, nullable=True),  # 0003: the job made its folder
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
    sa.Column("started_at", UTCDateTime, nullable=True),  # 0002
    sa.Column("heartbeat_at", UTCDateTime, nullable=True),  # 0002
    sa.Column("owner", sa.String(255), nullable=True),  # 0002
    sa.Column("retry_of", sa.String(32), nullable=True),  # 0004: the job this one retried
    sa.Column("run_id", sa.String(64), nullable=True),  # 0007: Dagster run id
    sa.Index("ix_op_jobs_folder_created", "folder_id", "created_at"),
    sa.Index("ix_op_jobs_created", "created_at"),
    sa.Index("ix_op_jobs_status_heartbeat", "status", "heartbeat_at"),  # 0007: the sweep
)

# 0007: rows of a strict job, invisible to readers until the job publishes them in one short
# transaction (or discards them when it fails or is abandoned). ``row`` is the file row's column
# values as one JSON text: staging writes and reads it back whole, and nothing queries inside.
staged_files = sa.Table(
    "op_staged_files",
    metadata,
    sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.String(32),
        sa.ForeignKey("op_jobs.id", ondelete="CASCADE", name="fk_op_staged_files_job_id_op_jobs"),
        nullable=False,
    ),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("row", sa.Text, nullable=False),
    sa.Index("ix_op_staged_files_job_batch", "job_id", "batch"),
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
    sa.Column("code", sa.String(64), nullable=True),  # 0002; written since 0004
    sa.Column("transient", sa.Boolean, nullable=True),  # 0004
    sa.Column("item", _JSON, nullable=True),  # 0004: the unit's manifest row, for a retry
)

# 0008: bearer tokens of the signed-URL gateway; only a SHA-256 of each token is stored.
gateway_tokens = sa.Table(
    "op_gateway_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(16), nullable=False),  # the token's first characters
    sa.Column("folders", _JSON, nullable=False),  # folder names the token may read
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# 0006: the watch inbox. Bucket events a queue delivered, kept until a batch applied them (a
# Dagster run may start minutes after the sensor tick that received them). ``sequence`` is the
# event's order among one key's events: the sequencer as 64 zero-padded upper-case hex digits
# (S3 and Azure sequencers are hex strings; GCS: the generation in hex + a 0/1 digit), then
# ``|`` and the event time (ISO, UTC).
watch_events = sa.Table(
    "op_watch_events",
    metadata,
    sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
    sa.Column("integration", sa.String(255), nullable=False),
    sa.Column("folder", sa.String(255), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # created | removed
    sa.Column("etag", sa.Text, nullable=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("sequence", sa.String(128), nullable=False),
    sa.Column("event_time", UTCDateTime, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("batch", sa.String(64), nullable=True),  # the partition key that applies it
    sa.Column("status", sa.String(12), nullable=False),  # pending|done|superseded|failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("job_id", sa.String(32), nullable=True),  # the job that applied it
    sa.Column("error", sa.Text, nullable=True),  # why its batch was given up
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint(
        "integration", "folder", "key", "kind", "sequence", name="uq_op_watch_events_event"
    ),
    sa.Index("ix_op_watch_events_state", "integration", "folder", "status", "batch"),
)

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


# --------------------------------------------------------------------------- engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL, busy timeout and foreign keys for every new SQLite connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _set_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _set_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the file.

    Switching a new database to WAL needs an exclusive lock and SQLite answers "database is
    locked" at once, without its busy handler, when another process opens the file at the same
    moment (20 processes opening a new catalog: about 1 in 100 failed). Hand-written: a few
    lines, and no library wraps this one pragma.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_sqlite_busy(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.2)


def is_sqlite_busy(exc: BaseException) -> bool:
    """Whether a sqlite3 error means another connection holds a lock (worth waiting for)."""
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "busy" in text.split()


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
