"""Bring a catalog database to the newest schema with the bundled Alembic migrations.

Runs programmatically (no ``alembic.ini``): :func:`upgrade` is called whenever a
:class:`~orchestration_pkg.core.catalog.Catalog` opens. A catalog already at head costs one
read. Otherwise the upgrade runs in one transaction under a lock, so processes opening a new
catalog at once take turns: ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock
on PostgreSQL. Catalogs made before migrations existed (tables, no version table) pass through
the baseline revision, which only creates missing tables, and are upgraded in place.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "op_alembic_version"  # not "alembic_version": the database may be shared
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x6F705F636174616C  # "op_catal": serialises catalog upgrades per database


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code, pointing at the bundled migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision shipped with this version of the package."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Every revision shipped with this version of the package, oldest first."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (``None`` when new or made before migrations)."""
    return MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the catalog at ``engine`` to ``revision`` (a no-op when already there)."""
    wanted = head_revision() if revision == "head" else revision
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == wanted:
        return
    if current is not None and current not in known_revisions():
        raise RuntimeError(
            f"the catalog schema is at revision {current}, newer than this version of "
            f"orchestration_pkg knows (up to {head_revision()}): upgrade orchestration_pkg"
        )
    if engine.dialect.name == "sqlite":
        _upgrade_sqlite(engine, revision)
    else:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            command.upgrade(alembic_config(conn), revision)
            conn.commit()


def _upgrade_sqlite(engine: Engine, revision: str) -> None:
    """The upgrade in one ``BEGIN IMMEDIATE`` transaction, foreign keys off meanwhile.

    Foreign keys must be off while a revision copies a table (dropping the old copy would
    otherwise cascade into child rows), and SQLite only switches them outside a transaction.
    The driver's own transaction handling is suspended for the duration and then restored,
    so the pooled connection goes back exactly as it was.
    """
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        saved = raw.isolation_level
        raw.isolation_level = None  # we issue BEGIN ourselves (DDL included)
        try:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits up to busy_timeout for others
            try:
                command.upgrade(alembic_config(conn), revision)
                problems = [
                    row
                    for table in ("op_jobs", "op_unit_errors")  # the tables revisions copy
                    for row in conn.exec_driver_sql(f"PRAGMA foreign_key_check({table})")
                ]
                if problems:
                    raise RuntimeError(f"catalog migration broke foreign keys: {problems[:5]}")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            if conn.in_transaction():
                conn.rollback()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
            raw.isolation_level = saved
