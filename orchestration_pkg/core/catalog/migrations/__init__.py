"""Alembic migrations of the catalog schema, run by ``core.catalog.migrate``."""
