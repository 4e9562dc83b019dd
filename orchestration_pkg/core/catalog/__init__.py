"""The dataset catalog: folders, registered files, upload jobs and their unit errors.

Built on SQLAlchemy 2 Core and usable on SQLite (default, WAL mode) and PostgreSQL (psycopg 3).
Only canonical, unsigned object URLs are stored; a URL carrying a signature is refused.

``schema`` holds the tables and engine setup, ``migrate`` (+ ``migrations/``) brings a database
to the newest schema on open, ``records`` the public records and URL guards, ``queries`` the
:class:`Catalog` API (jobs in ``jobs``, liveness and the sweep in ``lifecycle``, batch writes
and staged rows of strict jobs in ``staging``), ``writer`` the batched :class:`FileWriter` and
``txn`` the short write transactions with a bounded wait for a busy catalog.
"""

from orchestration_pkg.core.catalog.queries import Catalog
from orchestration_pkg.core.catalog.records import (
    FileRecord,
    Folder,
    UpsertCounts,
    is_signed_url,
)
from orchestration_pkg.core.catalog.schema import (
    DEFAULT_CATALOG_URL,
    UTCDateTime,
    files,
    folders,
    jobs,
    metadata,
    normalize_db_url,
    redact_db_url,
    staged_files,
    unit_errors,
    watch_events,
)
from orchestration_pkg.core.catalog.txn import CatalogBusyError, JobGoneError
from orchestration_pkg.core.catalog.writer import FileWriter

__all__ = [
    "DEFAULT_CATALOG_URL",
    "Catalog",
    "CatalogBusyError",
    "FileRecord",
    "FileWriter",
    "Folder",
    "JobGoneError",
    "UTCDateTime",
    "UpsertCounts",
    "files",
    "folders",
    "is_signed_url",
    "jobs",
    "metadata",
    "normalize_db_url",
    "redact_db_url",
    "staged_files",
    "unit_errors",
    "watch_events",
]
