"""The watch inbox: ``op_watch_events``, bucket events kept until a batch applied them.

The Dagster watch sensor (and ``orchestration-pkg watch``) writes the events a queue delivered
here in one short transaction and only then deletes the messages; a batch (one dynamic
partition, one run) applies its events later and marks them done. One row per event:
UNIQUE(integration, folder, key, kind, sequence) makes a re-delivered message a no-op.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "op_watch_events",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("integration", sa.String(255), nullable=False),
        sa.Column("folder", sa.String(255), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sequence", sa.String(128), nullable=False),
        sa.Column("event_time", _TS, nullable=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("batch", sa.String(64), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("done_at", _TS, nullable=True),
        sa.UniqueConstraint(
            "integration", "folder", "key", "kind", "sequence", name="uq_op_watch_events_event"
        ),
    )
    op.create_index(
        "ix_op_watch_events_state",
        "op_watch_events",
        ["integration", "folder", "status", "batch"],
    )


def downgrade() -> None:
    op.drop_index("ix_op_watch_events_state", table_name="op_watch_events")
    op.drop_table("op_watch_events")
