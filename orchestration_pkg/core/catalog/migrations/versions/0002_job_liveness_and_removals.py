"""Nullable columns for coming features: file removals, error codes, job liveness.

``op_files.removed_at``, ``op_unit_errors.code``, ``op_jobs.started_at``/``heartbeat_at``/
``owner``. All nullable without defaults: existing rows and today's code are unaffected.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_COLUMNS = (
    ("op_files", sa.Column("removed_at", _TS, nullable=True)),
    ("op_unit_errors", sa.Column("code", sa.String(64), nullable=True)),
    ("op_jobs", sa.Column("started_at", _TS, nullable=True)),
    ("op_jobs", sa.Column("heartbeat_at", _TS, nullable=True)),
    ("op_jobs", sa.Column("owner", sa.String(255), nullable=True)),
)


def upgrade() -> None:
    for table, column in _COLUMNS:
        op.add_column(table, column)  # plain ALTER TABLE … ADD COLUMN on both backends


def downgrade() -> None:
    for table, column in reversed(_COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column.name)
