"""Baseline: the schema as ``metadata.create_all`` made it before migrations existed.

Tables are created only when missing, so a catalog made by a pre-Alembic version (tables
present, no version table) passes through this revision untouched and is then upgraded.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types of that time: later changes to schema.py must not alter this.
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_JOB_COUNTS = (
    "total",
    "registered",
    "created",
    "updated",
    "unchanged",
    "skipped",
    "failed",
    "bytes_read",
    "requests",
)


def _baseline() -> sa.MetaData:
    meta = sa.MetaData()
    sa.Table(
        "op_folders",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("client_metadata", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("name <> ''", name="ck_op_folders_name_not_empty"),
    )
    sa.Table(
        "op_files",
        meta,
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column(
            "folder_id",
            sa.Integer,
            sa.ForeignKey("op_folders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("integration", sa.String(255), nullable=False),
        sa.Column("object_url", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("external_id", sa.Text),
        sa.Column("media_kind", sa.String(32)),
        sa.Column("size", sa.BigInteger),
        sa.Column("etag", sa.Text),
        sa.Column("content_type", sa.Text),
        sa.Column("last_modified", _TS),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("frame_count", sa.BigInteger),
        sa.Column("media_metadata", _JSON, nullable=False),
        sa.Column("client_metadata", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("folder_id", "object_url", name="uq_op_files_folder_url"),
        sa.Index("ix_op_files_folder_key", "folder_id", "key"),
    )
    sa.Table(
        "op_jobs",
        meta,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "folder_id",
            sa.Integer,
            sa.ForeignKey("op_folders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("integration", sa.String(255), nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ignore_errors", sa.Boolean, nullable=False),
        sa.Column("options", _JSON, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in _JOB_COUNTS),
        sa.Column("by_kind", _JSON, nullable=False),
        sa.Column("stats", _JSON, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.Index("ix_op_jobs_folder_created", "folder_id", "created_at"),
        sa.Index("ix_op_jobs_created", "created_at"),
    )
    sa.Table(
        "op_unit_errors",
        meta,
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("op_jobs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("row", sa.Integer, nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
    )
    return meta


def upgrade() -> None:
    _baseline().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    _baseline().drop_all(op.get_bind())
