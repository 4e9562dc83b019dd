"""Keeping the gateway's lookup cache exactly as fresh as the catalog.

:class:`Generation` is one cache generation (tokens by hash, files by (folder, key)); a read
from the database is kept only if no invalidation happened since the read began (the
generation ``number`` it started under is still current), so a slow read can never put back
what an invalidation removed.

:class:`CatalogListener` (PostgreSQL): a thread on its own connection ``LISTEN``s to
:data:`CHANNEL`, which the triggers of migration 0009 ``NOTIFY`` after every committed
statement changing ``op_gateway_tokens``, ``op_folders`` or (the columns the gateway reads of)
``op_files``; each notification empties the cache. While that connection is down the cache is
off (``live`` is False) and the thread reconnects every second; coming back, it empties the
cache again (notifications sent while it was away are lost).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

log = logging.getLogger(__name__)

CHANNEL = "op_gateway_catalog"
MAX_ENTRIES = 200_000  # files (and tokens) kept per generation; beyond it the map restarts
RECONNECT_S = 1.0


class Generation:
    """The cached tokens and files of one generation; ``clear`` starts the next one."""

    def __init__(self) -> None:
        self.number = 0
        self.tokens: dict[str, Any] = {}
        self.files: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.number += 1
            self.tokens, self.files = {}, {}

    def keep(
        self,
        number: int,
        tokens: dict[str, Any] | None = None,
        files: dict[tuple[str, str], Any] | None = None,
    ) -> None:
        """Keep what a read begun under generation ``number`` found, if that is still now."""
        with self._lock:
            if number != self.number:
                return
            if tokens:
                if len(self.tokens) >= MAX_ENTRIES:
                    self.tokens = {}
                self.tokens.update(tokens)
            if files:
                if len(self.files) >= MAX_ENTRIES:
                    self.files = {}
                self.files.update(files)


class CatalogListener:
    """Empties ``cache`` on every catalog change notified on :data:`CHANNEL` (PostgreSQL)."""

    def __init__(self, url: sa.URL, cache: Generation, *, wait_s: float = 5.0) -> None:
        self.live = False
        self._cache = cache
        self._params: dict[str, Any] = {
            **url.translate_connect_args(username="user", database="dbname"),
            **{k: v for k, v in url.query.items() if isinstance(v, str)},
        }
        self._stop = threading.Event()
        self._up = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="gateway-catalog-listener", daemon=True
        )
        self._thread.start()
        self._up.wait(wait_s)  # the first requests may use the cache already

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - any failure: cache off, reconnect
                log.warning(
                    "gateway: catalog change listener lost its connection (%s); "
                    "every request reads the catalog until it is back",
                    type(exc).__name__,
                )
            finally:
                self.live = False
                self._cache.clear()
            self._stop.wait(RECONNECT_S)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(**self._params, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._cache.clear()  # whatever changed before LISTEN took effect
            self.live = True
            self._up.set()
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=1.0):
                    self._cache.clear()
