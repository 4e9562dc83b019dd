"""What the notification tests (S3/SQS, Azure queue, GCS Pub/Sub) share: one drain that must
succeed, its counts, and the files of the watched folder ``lake``."""

from __future__ import annotations

from typing import Any

from orchestration_pkg.core.catalog import Catalog, FileRecord
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.notifications import NotificationConsumer, WatchResult

PNG = "image/png"
FOLDER = "lake"
# keys that need encoding in event payloads → (width, height) of the image written there
KEYS = {"raw/a b.png": (5, 4), "raw/x+y.png": (6, 5), "raw/ü/日本 +%.png": (7, 6)}


def drain(consumer: NotificationConsumer, **opts: Any) -> WatchResult:
    """One evaluation with ``RegistrationOptions(**opts)``; its job (if any) must be DONE."""
    result = consumer.drain(RegistrationOptions(**opts))
    assert result.job is None or result.job.status is JobStatus.DONE, result.job
    return result


def counts(r: WatchResult) -> tuple[int, int, int, int, int]:
    """(added, updated, removed, unchanged, failed)."""
    return r.added, r.updated, r.removed, r.unchanged, r.failed


def files(catalog: Catalog, **kw: Any) -> dict[str, FileRecord]:
    """The watched folder's files by key (``kw``: ``iter_files`` options)."""
    return {f.key: f for f in catalog.iter_files(FOLDER, **kw)}
