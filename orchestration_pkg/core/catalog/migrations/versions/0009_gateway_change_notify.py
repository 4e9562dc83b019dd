"""PostgreSQL: ``NOTIFY op_gateway_catalog`` after every statement that changes what the
signed-URL gateway reads, so its in-process lookup cache is emptied on each committed change.

Statement-level ``AFTER`` triggers (one notification per statement, not per row; PostgreSQL
delivers it at commit, and never for a rolled-back transaction) on ``op_gateway_tokens`` and
``op_folders`` (insert, update, delete, truncate) and on ``op_files`` (insert, delete,
truncate, and updates of the columns the gateway reads: ``folder_id``, ``key``,
``integration``, ``object_url``, ``removed_at``). Inserts are included because the gateway
also caches "no such token / file". The payload is the table's name (unused for now).
SQLite needs nothing: the gateway checks ``PRAGMA data_version`` instead.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_FUNCTION = "op_gateway_notify"
_TRIGGERS = {
    "op_gateway_tokens": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "op_folders": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "op_files": (
        "INSERT OR DELETE OR TRUNCATE "
        "OR UPDATE OF folder_id, key, integration, object_url, removed_at"
    ),
}


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('op_gateway_catalog', TG_TABLE_NAME); RETURN NULL; END $$"
    )
    for table, events in _TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {table}_gateway_notify AFTER {events} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_gateway_notify ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}()")
