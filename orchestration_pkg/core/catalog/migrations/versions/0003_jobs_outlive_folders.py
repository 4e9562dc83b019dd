"""Jobs outlive their folder: ``op_jobs.folder_name``/``created_folder``, ``folder_id`` SET NULL.

A failed job removes the (still empty) folder it created; its job row and unit errors stay
readable, by folder name. Existing rows get ``folder_name`` from their folder.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FK = "fk_op_jobs_folder_id_op_folders"
# Gives the unnamed foreign key of a reflected SQLite table the name dropped below.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_BACKFILL = sa.text(
    "UPDATE op_jobs SET folder_name = "
    "(SELECT op_folders.name FROM op_folders WHERE op_folders.id = op_jobs.folder_id)"
)


def _swap_folder_fk(nullable: bool, ondelete: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # copies the table (PRAGMA foreign_keys is off meanwhile)
        with op.batch_alter_table("op_jobs", recreate="always", naming_convention=_NAMING) as batch:
            batch.drop_constraint(FK, type_="foreignkey")
            batch.alter_column("folder_id", existing_type=sa.Integer(), nullable=nullable)
            batch.create_foreign_key(FK, "op_folders", ["folder_id"], ["id"], ondelete=ondelete)
        return
    names = [
        fk["name"]
        for fk in sa.inspect(bind).get_foreign_keys("op_jobs")
        if fk["referred_table"] == "op_folders"
    ]
    for name in names:
        op.drop_constraint(name, "op_jobs", type_="foreignkey")
    op.alter_column("op_jobs", "folder_id", existing_type=sa.Integer(), nullable=nullable)
    op.create_foreign_key(FK, "op_jobs", "op_folders", ["folder_id"], ["id"], ondelete=ondelete)


def upgrade() -> None:
    op.add_column("op_jobs", sa.Column("folder_name", sa.String(255), nullable=True))
    op.add_column("op_jobs", sa.Column("created_folder", sa.Boolean(), nullable=True))
    op.execute(_BACKFILL)
    _swap_folder_fk(nullable=True, ondelete="SET NULL")


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM op_jobs WHERE folder_id IS NULL"))
    _swap_folder_fk(nullable=False, ondelete="CASCADE")
    with op.batch_alter_table("op_jobs") as batch:
        batch.drop_column("created_folder")
        batch.drop_column("folder_name")
