"""What one watch evaluation did: a drain of bucket notifications, or a polling sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration_pkg.core.models import JobResult, JobStatus
from orchestration_pkg.core.notifications.batches import BatchOutcome


@dataclass
class WatchResult:
    """What one watch evaluation did (a drain, or a polling sync)."""

    mode: str  # notifications | polling
    folder: str
    integration: str
    prefix: str
    job: JobResult | None = None  # the (first failed, else last) job of the evaluation
    jobs: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    listed: int | None = None
    messages: int = 0
    poison: int = 0
    events: int = 0
    ignored: int = 0
    stored: int = 0  # events new to the inbox (the rest were stored before: re-deliveries)
    deleted_messages: int = 0
    batches: int = 0
    superseded: int = 0
    gave_up: int = 0
    pending: int = 0

    @property
    def status(self) -> str:
        return self.job.status.value if self.job else "IDLE"

    def add(self, outcome: BatchOutcome) -> None:
        """Count one applied batch in."""
        self.batches += 1
        self.superseded += outcome.superseded
        job = outcome.job
        if job is None:
            return
        self.jobs.append(job.job_id)
        if self.job is None or self.job.status is JobStatus.DONE:
            self.job = job
        self.added += outcome.added
        self.updated += outcome.updated
        self.removed += outcome.removed
        self.unchanged += outcome.unchanged
        self.failed += outcome.failed

    def as_json(self) -> dict[str, Any]:
        job = self.job
        data: dict[str, Any] = {
            "job_id": job.job_id if job else None,
            "status": self.status,
            "mode": self.mode,
            "folder": self.folder,
            "integration": self.integration,
            "prefix": self.prefix,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "error": job.error if job else None,
            "unit_errors": [{"url": e.url, "error": e.error} for e in job.unit_errors]
            if job
            else [],
        }
        if self.mode == "polling":
            data["listed"] = self.listed
        else:
            data.update(
                jobs=self.jobs,
                messages=self.messages,
                poison=self.poison,
                events=self.events,
                ignored=self.ignored,
                stored=self.stored,
                deleted_messages=self.deleted_messages,
                batches=self.batches,
                superseded=self.superseded,
                gave_up=self.gave_up,
                pending=self.pending,
            )
        return data


__all__ = ["WatchResult"]
