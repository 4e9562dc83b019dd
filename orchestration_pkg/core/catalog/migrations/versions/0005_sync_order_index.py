"""Index for a prefix sync's page order on PostgreSQL: ``ix_op_files_sync_order``.

A sync reads one integration's rows of a folder ``ORDER BY key COLLATE "C", id`` page by page
(:mod:`orchestration_pkg.core.catalog.sync_queries`). ``ix_op_files_folder_key`` follows the
database collation, so PostgreSQL sorted every page's remaining rows; this index is in exactly
the query's order. SQLite compares keys by bytes already (BINARY), so nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NAME = "ix_op_files_sync_order"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    columns = 'folder_id, integration, (key COLLATE "C"), id'
    op.execute(f"CREATE INDEX IF NOT EXISTS {_NAME} ON op_files ({columns})")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {_NAME}")
