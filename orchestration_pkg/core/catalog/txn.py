"""Short write transactions with a bounded wait for a busy catalog.

Every write of a job goes through :func:`run_write`: one transaction around ``fn(conn)``, no
network I/O inside, retried with jittered backoff while the catalog is busy, for at most
``busy_timeout_s`` in total; then :class:`CatalogBusyError` ("catalog busy: …", one line).

* SQLite: the connection's ``busy_timeout`` is set to what is left of the budget for the
  attempt (SQLite waits inside that), and "database is locked" answers that come without
  waiting (a write lock SQLite cannot wait for) are retried here.
* PostgreSQL: ``lock_timeout`` bounds each attempt's lock waits the same way; lock timeouts,
  deadlocks and serialization failures are retried. With ``folder_id`` the transaction first
  takes a transaction-scoped advisory lock on that folder, so two jobs writing one folder take
  turns instead of interleaving row locks (no deadlocks between their upserts).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from orchestration_pkg.core.catalog.schema import SQLITE_BUSY_TIMEOUT_MS, is_sqlite_busy
from orchestration_pkg.core.errors import OrchestrationError

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog.queries import Catalog

T = TypeVar("T")

# PostgreSQL SQLSTATEs worth retrying: lock_not_available, deadlock_detected,
# serialization_failure.
_PG_RETRY = frozenset({"55P03", "40P01", "40001"})
# Namespace (first int) of the per-folder advisory locks: "op_f".
_PG_FOLDER_LOCK = 0x6F705F66
_MAX_DELAY = 1.0


class CatalogBusyError(OrchestrationError):
    """The catalog stayed locked by other writers for longer than ``busy_timeout_s``."""

    exit_code = 1  # not a usage error: the same command may work a moment later


class JobGoneError(OrchestrationError):
    """The job's row is no longer RUNNING: a sweep marked it ABANDONED meanwhile."""


def is_busy(exc: BaseException) -> bool:
    """Whether a database error means "someone else holds the lock": worth waiting for."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _PG_RETRY
    return is_sqlite_busy(orig) if orig is not None else False


def run_write(
    catalog: Catalog,
    fn: Callable[[Connection], T],
    *,
    folder_id: int | None = None,
    budget: float | None = None,
    what: str = "write",
) -> T:
    """``fn(conn)`` in one transaction, committed; retried while the catalog is busy.

    ``budget`` (default: the catalog's ``busy_timeout_s``) bounds the total wait; past it,
    :class:`CatalogBusyError`. Other errors propagate at once (the transaction rolled back).
    """
    total = catalog.busy_timeout_s if budget is None else budget
    deadline = time.monotonic() + total
    delay = 0.02
    while True:
        remaining = deadline - time.monotonic()
        try:
            return _attempt(catalog, fn, folder_id, max(remaining, 0.001))
        except DBAPIError as exc:
            if not is_busy(exc):
                raise
            if time.monotonic() + delay >= deadline:
                raise CatalogBusyError(
                    f"catalog busy: could not {what} in {catalog.display_url} within {total:g} s "
                    "(jobs.busy_timeout_s); other jobs hold its write lock"
                ) from None
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, _MAX_DELAY)


def _attempt(
    catalog: Catalog, fn: Callable[[Connection], T], folder_id: int | None, remaining: float
) -> T:
    wait_ms = max(1, int(remaining * 1000))
    sqlite = catalog.dialect == "sqlite"
    with catalog.engine.connect() as conn:
        try:
            if sqlite:  # outside any SQLite transaction: a pragma does not begin one
                conn.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
            else:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms}")
                if folder_id is not None:
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:ns, :folder)"),
                        {"ns": _PG_FOLDER_LOCK, "folder": int(folder_id)},
                    )
            result = fn(conn)
            conn.commit()
            return result
        except BaseException:
            conn.rollback()
            raise
        finally:
            if sqlite:
                _restore_busy_timeout(conn)


def _restore_busy_timeout(conn: Connection) -> None:
    """The pooled connection goes back with the default busy timeout."""
    try:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        conn.rollback()  # ends the (empty) autobegun SQLAlchemy transaction
    except DBAPIError:  # a broken connection is discarded by the pool anyway
        conn.invalidate()
