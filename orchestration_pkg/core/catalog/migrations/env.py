"""Alembic environment: migrates the connection handed over by ``migrate.upgrade``.

The caller owns the connection and its transaction (and the lock that serialises upgrades),
so this only configures the context and runs the pending revisions inside it.
"""

from __future__ import annotations

from alembic import context

from orchestration_pkg.core.catalog.migrate import VERSION_TABLE
from orchestration_pkg.core.catalog.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called programmatically
    raise RuntimeError("catalog migrations run through orchestration_pkg.core.catalog.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
