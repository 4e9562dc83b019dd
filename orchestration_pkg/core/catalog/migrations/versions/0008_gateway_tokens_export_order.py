"""The signed-URL gateway's bearer tokens (``op_gateway_tokens``) and an export page index.

``op_gateway_tokens``: one row per named token, its SHA-256 (never the token), the first
characters (to recognise it in ``gateway token list``) and the folders it may read. Revoking
deletes the row, so the next request with it is refused.

``ix_op_files_export_order`` (PostgreSQL): ``export`` reads a folder ``ORDER BY key COLLATE
"C", id`` page by page across integrations; ``ix_op_files_sync_order`` leads with the
integration, so without this index every page would sort the folder's remaining rows. SQLite
compares keys by bytes already (BINARY), and ``ix_op_files_folder_key`` serves it there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen copies of the types of this revision: later changes to schema.py must not alter it.
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)
_INDEX = "ix_op_files_export_order"


def upgrade() -> None:
    op.create_table(
        "op_gateway_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("folders", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            f'CREATE INDEX IF NOT EXISTS {_INDEX} ON op_files (folder_id, (key COLLATE "C"), id)'
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {_INDEX}")
    op.drop_table("op_gateway_tokens")
