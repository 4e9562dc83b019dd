"""Schema migrations: new catalogs at head, pre-Alembic and older catalogs upgraded in place."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from orchestration_pkg.core.catalog import Catalog, metadata
from orchestration_pkg.core.catalog.migrate import (
    VERSION_TABLE,
    alembic_config,
    head_revision,
    known_revisions,
    upgrade,
)
from orchestration_pkg.core.catalog.schema import _make_engine
from orchestration_pkg.core.models import JobStatus

SQL_DIR = Path(__file__).parent / "fixtures" / "sql"
ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 5, 1, 12, 30, 15, tzinfo=timezone.utc)


SYNC_ORDER_DEF = '(folder_id, integration, key COLLATE "C", id)'
EXPORT_ORDER_DEF = '(folder_id, key COLLATE "C", id)'
# Expression indexes PostgreSQL reflects without their COLLATE "C": checked from pg_indexes.
COLLATED_INDEXES = {
    "ix_op_files_sync_order": SYNC_ORDER_DEF,
    "ix_op_files_export_order": EXPORT_ORDER_DEF,
}


def _schema_diff(conn: sa.Connection) -> list[object]:
    """Alembic's diff of the migrated tables against schema.py.

    PostgreSQL reflects ``ix_op_files_sync_order`` (0005) without its ``COLLATE "C"``, so
    Alembic would always see it as changed: it is checked from ``pg_indexes`` instead.
    """

    def include(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        return not (type_ == "index" and name in COLLATED_INDEXES)

    if conn.dialect.name == "postgresql":
        for index, definition in COLLATED_INDEXES.items():
            (indexdef,) = conn.exec_driver_sql(
                f"SELECT indexdef FROM pg_indexes WHERE indexname = '{index}'"
            ).one()
            assert indexdef.endswith(definition), indexdef
    opts = {"version_table": VERSION_TABLE, "include_object": include}
    return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))


def _engine(url: str) -> sa.Engine:
    return _make_engine(sa.make_url(url))


def _create_pre_alembic_schema(engine: sa.Engine) -> None:
    """The tables exactly as the last version without migrations created them."""
    sql = (SQL_DIR / f"catalog_pre_alembic.{engine.dialect.name}.sql").read_text()
    statements = [s.strip() for s in sql.split(";\n")]
    with engine.begin() as conn:
        for statement in statements:
            lines = [ln for ln in statement.splitlines() if not ln.startswith("--")]
            if "".join(lines).strip():
                conn.exec_driver_sql("\n".join(lines))


def _fill_old_catalog(engine: sa.Engine) -> None:
    """Folders, files, jobs and unit errors written through the old tables (reflected)."""
    old = sa.MetaData()
    old.reflect(engine, only=["op_folders", "op_files", "op_jobs", "op_unit_errors"])
    t = old.tables
    counts = dict.fromkeys(
        ("total", "registered", "created", "updated", "unchanged", "skipped", "bytes_read"), 2
    )
    counts.update(failed=1, requests=3)
    with engine.begin() as conn:
        for row in (
            {"id": 1, "name": "photos", "description": "d", "client_metadata": {"t": 1}},
            {"id": 2, "name": "empty", "description": None, "client_metadata": {}},
        ):
            conn.execute(t["op_folders"].insert().values(**row, created_at=T0))
        for i in range(2):
            conn.execute(
                t["op_files"]
                .insert()
                .values(
                    folder_id=1,
                    integration="s3-main",
                    object_url=f"s3://b/k{i}.png",
                    key=f"k{i}.png",
                    media_kind="image",
                    size=10 + i,
                    width=4,
                    height=3,
                    last_modified=T0,
                    media_metadata={"format": "png"},
                    client_metadata={"i": i},
                    created_at=T0,
                    updated_at=T0,
                )
            )
        conn.execute(
            t["op_jobs"]
            .insert()
            .values(
                id="a" * 32,
                folder_id=1,
                integration="s3-main",
                manifest="m.json",
                status="DONE",
                ignore_errors=True,
                options={"fetch": "auto"},
                by_kind={"image": 2},
                stats={},
                error=None,
                created_at=T0,
                finished_at=T0,
                **counts,
            )
        )
        conn.execute(
            t["op_unit_errors"]
            .insert()
            .values(job_id="a" * 32, row=3, url="s3://b/bad.png", error="NotFound", level="error")
        )


def _assert_data_intact(catalog: Catalog) -> None:
    assert [(f.name, f.file_count, f.total_bytes) for f in catalog.list_folders()] == [
        ("empty", 0, 0),
        ("photos", 2, 21),
    ]
    photos = catalog.get_folder("photos")
    assert (photos.description, photos.client_metadata, photos.created_at) == ("d", {"t": 1}, T0)
    files = list(catalog.iter_files("photos"))
    assert [(f.key, f.size, f.client_metadata) for f in files] == [
        ("k0.png", 10, {"i": 0}),
        ("k1.png", 11, {"i": 1}),
    ]
    assert files[0].last_modified == T0 and files[0].media_metadata == {"format": "png"}
    job = catalog.get_job("a" * 32)
    assert (job.folder, job.status, job.registered, job.failed) == ("photos", JobStatus.DONE, 2, 1)
    assert [(e.row, e.url, e.error) for e in job.unit_errors] == [(3, "s3://b/bad.png", "NotFound")]
    assert [j.job_id for j in catalog.list_jobs("photos")] == ["a" * 32]
    with catalog.engine.connect() as conn:  # 0003 filled in the folder names of old jobs
        names = conn.execute(sa.text("SELECT folder_name, created_folder FROM op_jobs")).all()
    assert names == [("photos", None)]
    # and the catalog still takes new writes
    with catalog.writer(photos.id) as writer:
        writer.upsert([files[0]])


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def test_new_catalog_is_at_head_and_matches_the_tables(catalog_url: str) -> None:
    catalog = Catalog(catalog_url)
    try:
        assert catalog.schema_version() == head_revision()
        with catalog.engine.connect() as conn:
            assert _schema_diff(conn) == []
    finally:
        catalog.dispose()
    again = Catalog(catalog_url)  # opening an up-to-date catalog changes nothing
    try:
        assert again.schema_version() == head_revision()
    finally:
        again.dispose()


def test_pre_alembic_catalog_is_upgraded_in_place(catalog_url: str) -> None:
    engine = _engine(catalog_url)
    try:
        _create_pre_alembic_schema(engine)
        _fill_old_catalog(engine)
        assert _version(engine) is None
    finally:
        engine.dispose()
    catalog = Catalog(catalog_url)
    try:
        assert catalog.schema_version() == head_revision()
        _assert_data_intact(catalog)
        with catalog.engine.connect() as conn:
            assert _schema_diff(conn) == []
            names = sa.inspect(conn).get_table_names()
        assert VERSION_TABLE in names and "alembic_version" not in names
    finally:
        catalog.dispose()


def test_catalog_at_0001_upgrades_to_head(catalog_url: str) -> None:
    engine = _engine(catalog_url)
    try:
        upgrade(engine, "0001")
        assert _version(engine) == "0001"
        _fill_old_catalog(engine)
    finally:
        engine.dispose()
    catalog = Catalog(catalog_url)
    try:
        assert catalog.schema_version() == head_revision() != "0001"
        _assert_data_intact(catalog)
        with catalog.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("op_jobs")}
            started = conn.scalar(sa.text("SELECT started_at FROM op_jobs"))
        assert {"started_at", "heartbeat_at", "owner"} <= columns and started is None
    finally:
        catalog.dispose()


def test_processes_opening_a_new_catalog_at_once(catalog_url: str, tmp_path: Path) -> None:
    """20 processes create and migrate one new catalog at the same instant: all succeed (on
    SQLite, switching a new file to WAL is the race: it answers "locked" without waiting)."""
    import time
    from multiprocessing import forkserver

    from tests.fixtures.forked import start_open_catalog

    forkserver.ensure_running()
    start = time.time() + 1.0
    children = [start_open_catalog(catalog_url, tmp_path, f"open-{i}", start) for i in range(20)]
    for child in children:
        code, out, err = child.wait(120)
        assert code == 0, err
        assert out.strip() == head_revision()
    catalog = Catalog(catalog_url)
    try:
        assert [f.name for f in catalog.list_folders()] == ["shared"]
    finally:
        catalog.dispose()


def test_sqlite_upgrade_returns_the_connection_as_it_was(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = _engine(url)
    try:
        upgrade(engine)
        upgrade(engine)
        assert _version(engine) == head_revision()
        with engine.connect() as conn:  # the pooled connection is back to normal
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.connection.driver_connection.isolation_level == ""
    finally:
        engine.dispose()


def test_catalog_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Catalog(url).dispose()
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match="revision 9999, newer than"):
        Catalog(url)
    assert known_revisions() == [
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0006",
        "0007",
        "0008",
        "0009",
    ]


def test_catalog_at_0003_gains_unit_error_codes_and_retry_of(catalog_url: str) -> None:
    engine = _engine(catalog_url)
    try:
        upgrade(engine, "0003")
        assert _version(engine) == "0003"
        _fill_old_catalog(engine)
        with engine.begin() as conn:  # as 0003's own writes would have it
            conn.execute(sa.text("UPDATE op_jobs SET folder_name = 'photos'"))
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("op_unit_errors")}
        assert "transient" not in columns and "item" not in columns
    finally:
        engine.dispose()
    catalog = Catalog(catalog_url)
    try:
        assert catalog.schema_version() == head_revision() == "0009"
        _assert_data_intact(catalog)
        job = catalog.get_job("a" * 32)
        assert job.retry_of is None
        assert [(e.code, e.transient, e.item) for e in job.unit_errors] == [
            ("unknown", False, None)
        ]
        assert [u.item for u in catalog.failed_units("a" * 32)] == [None]
        with catalog.engine.connect() as conn:
            assert _schema_diff(conn) == []
    finally:
        catalog.dispose()


def test_catalog_at_0005_gains_job_lifecycle_and_its_dead_jobs_are_swept(catalog_url: str) -> None:
    """0007: a job left PENDING by a crash before heartbeats existed is swept ABANDONED (its
    existing folder stays); the revision goes back down cleanly."""
    engine = _engine(catalog_url)
    job = {"integration": "s3", "manifest": "m", "ignore_errors": False, "options": {}, "stats": {}}
    job["by_kind"] = {}
    job |= dict.fromkeys(("total", "registered", "created", "updated", "unchanged"), 0)
    job |= dict.fromkeys(("skipped", "failed", "bytes_read", "requests"), 0)
    try:
        upgrade(engine, "0005")
        old = sa.MetaData()
        old.reflect(engine, only=["op_folders", "op_jobs"])
        with engine.begin() as conn:
            conn.execute(
                old.tables["op_folders"].insert(),
                [{"id": 1, "name": "photos", "client_metadata": {}, "created_at": T0}],
            )
            conn.execute(
                old.tables["op_jobs"].insert(),
                [
                    {**job, "id": "a" * 32, "status": "DONE", "folder_id": 1, "created_at": T0},
                    {**job, "id": "b" * 32, "status": "PENDING", "folder_id": 1, "created_at": T0},
                ],
            )
    finally:
        engine.dispose()
    catalog = Catalog(catalog_url)
    try:
        assert catalog.schema_version() == head_revision() == "0009"
        assert catalog.sweep_stale() == ["b" * 32]
        dead = catalog.get_job("b" * 32)
        assert dead.status is JobStatus.ABANDONED and "no heartbeat for ever" in dead.error
        assert catalog.get_job("a" * 32).status is JobStatus.DONE
        assert [f.name for f in catalog.list_folders()] == ["photos"]
    finally:
        catalog.dispose()
    engine = _engine(catalog_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0005")
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("op_jobs")}
        assert _version(engine) == "0005"
        assert "op_staged_files" not in names and "run_id" not in columns
        assert "op_watch_events" not in names and "op_gateway_tokens" not in names
    finally:
        engine.dispose()


def test_sync_pages_use_the_sync_order_index_on_postgresql(catalog_url: str) -> None:
    """0005: every sync page query is a range of ix_op_files_sync_order, never a sort."""
    import psycopg

    from orchestration_pkg.core.catalog import sync_queries
    from orchestration_pkg.core.catalog.schema import files, folders

    catalog = Catalog(catalog_url)
    try:
        engine = catalog.engine
        names = {ix["name"] for ix in sa.inspect(engine).get_indexes("op_files")}
        if engine.dialect.name != "postgresql":
            assert "ix_op_files_sync_order" not in names  # SQLite: BINARY keys are byte order
            return
        assert "ix_op_files_sync_order" in names
        with engine.begin() as conn:
            conn.execute(folders.insert().values(id=1, name="f", client_metadata={}, created_at=T0))
            for key in ("raw/a", "raw/b", "raw/c"):
                conn.execute(
                    files.insert().values(
                        folder_id=1,
                        integration="s3",
                        object_url=f"s3://b/{key}",
                        key=key,
                        media_metadata={},
                        client_metadata={},
                        created_at=T0,
                        updated_at=T0,
                    )
                )
        statements: list[str] = []

        def seen(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            if "ORDER BY" in statement:
                statements.append(
                    psycopg.ClientCursor(cursor.connection).mogrify(statement, params)
                )

        sa.event.listen(engine, "before_cursor_execute", seen)
        try:
            rows = list(sync_queries.iter_sync_rows(catalog, 1, "s3", "raw/", page_size=1))
        finally:
            sa.event.remove(engine, "before_cursor_execute", seen)
        assert [r.key for r in rows] == ["raw/a", "raw/b", "raw/c"]
        assert len(statements) == 4  # first page, two keyset pages, the empty last one
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            for statement in statements:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement))
                # 0008's export index has the same order; on tiny tables either may be picked
                in_order = "ix_op_files_sync_order" in plan or "ix_op_files_export_order" in plan
                assert in_order and "Sort" not in plan, plan
    finally:
        catalog.dispose()
