"""Job lifecycle and staged rows: ``op_jobs.run_id``, the sweep's index, ``op_staged_files``.

``run_id`` is the Dagster run that ran a job (owner, started_at and heartbeat_at exist since
0002 and are written from now on). ``ix_op_jobs_status_heartbeat`` lets the sweep find
PENDING/RUNNING jobs whose heartbeat is too old without scanning finished jobs.
``op_staged_files`` holds a strict job's rows until it publishes them in one short transaction;
they cascade away with their job and are deleted when the job fails or is abandoned.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("op_jobs", sa.Column("run_id", sa.String(64), nullable=True))
    op.create_index("ix_op_jobs_status_heartbeat", "op_jobs", ["status", "heartbeat_at"])
    op.create_table(
        "op_staged_files",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey(
                "op_jobs.id", ondelete="CASCADE", name="fk_op_staged_files_job_id_op_jobs"
            ),
            nullable=False,
        ),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("row", sa.Text, nullable=False),  # the file row's values, one JSON text
    )
    op.create_index("ix_op_staged_files_job_batch", "op_staged_files", ["job_id", "batch"])


def downgrade() -> None:
    op.drop_index("ix_op_staged_files_job_batch", table_name="op_staged_files")
    op.drop_table("op_staged_files")
    op.drop_index("ix_op_jobs_status_heartbeat", table_name="op_jobs")
    with op.batch_alter_table("op_jobs") as batch:
        batch.drop_column("run_id")
