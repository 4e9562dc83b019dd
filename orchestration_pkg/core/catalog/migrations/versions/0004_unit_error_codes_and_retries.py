"""Retrying failed units: ``op_unit_errors.transient``/``item``, ``op_jobs.retry_of``.

``code`` (0002) is written from now on; ``transient`` says whether a retry may help, ``item`` is
a compact JSON copy of the unit's manifest row (canonical URL, never a signature) that
``retry JOB_ID`` rebuilds the unit from. ``retry_of`` names the job a retry job re-attempted.
All nullable without defaults: units recorded before stay readable (code ``unknown``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_COLUMNS = (
    ("op_unit_errors", sa.Column("transient", sa.Boolean(), nullable=True)),
    ("op_unit_errors", sa.Column("item", _JSON, nullable=True)),
    ("op_jobs", sa.Column("retry_of", sa.String(32), nullable=True)),
)


def upgrade() -> None:
    for table, column in _COLUMNS:
        op.add_column(table, column)  # plain ALTER TABLE … ADD COLUMN on both backends


def downgrade() -> None:
    for table, column in reversed(_COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column.name)
