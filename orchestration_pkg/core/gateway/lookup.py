"""The gateway's catalog reads: one SQL statement per request at most, on its own connections,
and an in-process cache of what they read that is exactly as fresh as the catalog.

Why raw DB-API statements instead of SQLAlchemy Core here: building and compiling a Core
statement costs ~0.2 ms a request, ten times the indexed lookup itself, and the gateway is
meant to answer thousands of redirects a second. The two statements below are fixed text
(placeholders only), run on a DB-API connection (one per thread, kept) in autocommit mode,
so each is one short read transaction on its own and no transaction is ever open while
anything else (presigning) happens. Indexes used: ``op_gateway_tokens.token_hash`` (unique),
``op_folders.name`` (unique), ``ix_op_files_folder_key``.

The cache (tokens by hash, files by (folder, key), unknown ones too) is only used while it
cannot be stale (:mod:`.freshness`): on SQLite, ``PRAGMA data_version`` on the reading
connection is checked before every request (it changes when any other connection commits)
and the cache is emptied when it moved; on PostgreSQL, triggers on the three tables
(migration 0009) ``NOTIFY`` every committed change and a listener thread empties the cache on
each; while the listener is not connected, the cache is not used at all.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from orchestration_pkg.core.gateway.freshness import CatalogListener, Generation
from orchestration_pkg.core.gateway.tokens import hash_token

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog

_FILE_COLUMNS = "f.integration, f.key, f.object_url, f.removed_at"
_LIVE_FIRST = "ORDER BY CASE WHEN f.removed_at IS NULL THEN 0 ELSE 1 END, f.id LIMIT 1"
# The token and, in the same statement, the file it asks for (NULLs when there is none).
TOKEN_AND_FILE = f"""
SELECT t.name, t.folders, {_FILE_COLUMNS}
FROM op_gateway_tokens t
LEFT JOIN op_folders d ON d.name = {{p}}
LEFT JOIN op_files f ON f.folder_id = d.id AND f.key = {{p}}
WHERE t.token_hash = {{p}}
{_LIVE_FIRST}
"""
FILE_ONLY = f"""
SELECT {_FILE_COLUMNS}
FROM op_files f JOIN op_folders d ON f.folder_id = d.id
WHERE d.name = {{p}} AND f.key = {{p}}
{_LIVE_FIRST}
"""


@dataclass(frozen=True)
class FileRow:
    integration: str
    key: str
    object_url: str
    removed: bool


@dataclass(frozen=True)
class TokenRow:
    name: str
    folders: tuple[str, ...]


def _file(values: tuple[Any, ...]) -> FileRow | None:
    integration, key, object_url, removed_at = values
    if integration is None:
        return None
    return FileRow(integration, key, object_url, removed_at is not None)


class _Local(threading.local):
    """One thread's connection and, on SQLite, its cache and the data_version it holds for."""

    raw: Any = None
    pragma: Any = None  # a cursor kept for PRAGMA data_version
    version: Any = None
    checked = False  # data_version read in this event-loop iteration already
    loop: Any = None  # the event loop whose iterations share a check
    cache: Generation | None = None


class GatewayLookup:
    """Token and file lookups for the gateway on ``catalog``'s database (its own pool).

    ``cached_*`` answer from the cache only (``None``: not there, or the cache is off), so the
    app can answer a hit on the event loop and send only misses to a thread; the others read
    the database on a miss and keep what they read. ``cache=False`` turns caching off.
    """

    def __init__(self, catalog: Catalog, pool_size: int = 8, *, cache: bool = True) -> None:
        url = catalog.engine.url
        self.listener: CatalogListener | None = None
        self._shared: Generation | None = None
        if catalog.dialect == "postgresql":
            self.engine = sa.create_engine(
                url, isolation_level="AUTOCOMMIT", pool_size=pool_size, pool_pre_ping=True
            )
            mark = "%s"
            if cache:
                self._shared = Generation()
                self.listener = CatalogListener(url, self._shared)
        else:  # pysqlite starts no transaction for a SELECT: each read stands alone
            self.engine = catalog.engine
            mark = "?"
        # data_version tells nothing about the writes of the same connection: an in-memory
        # database (one connection for everything) is never cached.
        self._sqlite_cache = cache and catalog.dialect == "sqlite" and bool(url.database)
        self._sqlite_cache = self._sqlite_cache and url.database != ":memory:"
        self._token_sql = TOKEN_AND_FILE.format(p=mark)
        self._file_sql = FILE_ONLY.format(p=mark)
        self._own = self.engine is not catalog.engine
        self._local = _Local()
        self._dbapi_errors = (self.engine.dialect.loaded_dbapi.OperationalError,)

    # -- the cache -----------------------------------------------------------------------------

    def _cache(self) -> Generation | None:
        """The cache valid for a read made now, or None when none may be used."""
        if self.listener is not None:
            return self._shared if self.listener.live else None
        if not self._sqlite_cache:
            return None
        local = self._local
        if local.checked:
            if local.loop.is_running():
                return local.cache
            local.checked = False  # the loop stopped before its next iteration began
        raw = self._connection()
        try:
            if local.pragma is None:
                local.pragma = raw.driver_connection.cursor()
            version = local.pragma.execute("PRAGMA data_version").fetchone()[0]
        except self._dbapi_errors:  # no cache this time; the read retries on a new connection
            local.raw = local.cache = local.pragma = None
            raw.invalidate()
            return None
        if local.cache is None or version != local.version:
            local.cache = Generation()  # another connection committed: nothing kept holds
            local.version = version
        if local.loop is not None:
            local.checked = True
            local.loop.call_soon(_uncheck, local)
        return local.cache

    def check_once_per_iteration(self, loop: Any) -> None:
        """SQLite, on ``loop``'s thread: one ``data_version`` check serves every request
        handled in the rest of the loop's current iteration.

        Exact all the same: an iteration runs only the callbacks queued before it began, and
        a request's first step (where the gateway looks it up) is queued when its headers
        arrive; so every request answered with the check's result had arrived before the
        check was made. The callback that clears the mark runs first in the next iteration,
        before the requests that arrived since."""
        self._local.loop = loop

    def cached_token_and_file(
        self, token: str, folder: str, key: str
    ) -> tuple[TokenRow | None, FileRow | None] | None:
        """:meth:`token_and_file` from the cache alone; None if it would need the database."""
        cache = self._cache()
        if cache is None:
            return None
        found = cache.tokens.get(hash_token(token), _MISS)
        if found is None:
            return None, None
        row = cache.files.get((folder, key), _MISS) if found is not _MISS else _MISS
        return None if row is _MISS else (found, row)

    def cached_file(self, folder: str, key: str) -> tuple[FileRow | None] | None:
        """``(row,)`` from the cache alone; None if it would need the database."""
        cache = self._cache()
        if cache is None:
            return None
        row = cache.files.get((folder, key), _MISS)
        return None if row is _MISS else (row,)

    # -- reads ---------------------------------------------------------------------------------

    def _connection(self) -> Any:
        raw = self._local.raw
        if raw is None:
            raw = self._local.raw = self.engine.raw_connection()
        return raw

    def _one(self, sql: str, params: tuple[str, ...]) -> tuple[Any, ...] | None:
        """One row of ``sql`` on this thread's connection (kept between requests: a pool
        checkout per request would cost more than the lookup). A connection that fails is
        dropped and the statement tried once more on a fresh one."""
        for attempt in (0, 1):
            raw = self._connection()
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(sql, params)
                    rows = cursor.fetchall()  # exhausted and closed: no read snapshot kept
                finally:
                    cursor.close()
                return rows[0] if rows else None
            except self._dbapi_errors:
                self._local.raw = self._local.cache = self._local.pragma = None
                self._local.checked = False
                raw.invalidate()
                if attempt:
                    raise
        return None

    def token_and_file(
        self, token: str, folder: str, key: str
    ) -> tuple[TokenRow | None, FileRow | None]:
        """The token ``token`` hashes to, and the folder's row for ``key`` (any scope: the
        caller checks the scope before using it)."""
        hashed = hash_token(token)
        cache = self._cache()
        number = 0
        if cache is not None:
            known = cache.tokens.get(hashed, _MISS)
            if known is None:
                return None, None
            if known is not _MISS:
                return known, self._file(cache, folder, key)
            number = cache.number  # taken before the read: see Generation.keep
        row = self._one(self._token_sql, (folder, key, hashed))
        if row is None:
            if cache is not None:
                cache.keep(number, tokens={hashed: None})
            return None, None
        folders = row[1]
        if isinstance(folders, str):
            folders = json.loads(folders)
        found, file_row = TokenRow(row[0], tuple(folders or ())), _file(row[2:])
        if cache is not None:
            cache.keep(number, tokens={hashed: found}, files={(folder, key): file_row})
        return found, file_row

    def file(self, folder: str, key: str) -> FileRow | None:
        """The folder's row for ``key`` (the live one first), None if there is none."""
        return self._file(self._cache(), folder, key)

    def _file(self, cache: Generation | None, folder: str, key: str) -> FileRow | None:
        number = 0
        if cache is not None:
            hit = cache.files.get((folder, key), _MISS)
            if hit is not _MISS:
                return hit  # type: ignore[no-any-return]
            number = cache.number
        row = self._one(self._file_sql, (folder, key))
        found = _file(row) if row is not None else None
        if cache is not None:
            cache.keep(number, files={(folder, key): found})
        return found

    def dispose(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self._own:
            self.engine.dispose()


_MISS: Any = object()


def _uncheck(local: _Local) -> None:
    local.checked = False


__all__ = ["FileRow", "GatewayLookup", "TokenRow"]
