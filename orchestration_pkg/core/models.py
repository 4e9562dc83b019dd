"""Shared data models of the core: manifest items, media metadata, errors and job results."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class MediaKind(str, enum.Enum):
    """What a registered object is; mirrors the top-level lists of an Encord upload JSON."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    PDF = "pdf"
    IMAGE_GROUP = "image_group"
    DICOM_SERIES = "dicom_series"
    OTHER = "other"


class JobStatus(str, enum.Enum):
    """Life cycle of an upload job: PENDING → RUNNING → DONE | FAILED | ABANDONED.

    ABANDONED: the job's process stopped sending heartbeats (killed, host lost) and a sweep
    gave it up; what it had committed stays, what it had staged is discarded.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    ABANDONED = "ABANDONED"

    @property
    def finished(self) -> bool:
        """DONE, FAILED or ABANDONED: the job will not change any more."""
        return self not in (JobStatus.PENDING, JobStatus.RUNNING)


class MediaMetadata(BaseModel):
    """Metadata of one object, given in a manifest or probed; every field optional.

    Field names are snake_case; ``to_encord`` maps them one-to-one to Encord's camelCase
    ``imageMetadata`` / ``videoMetadata`` / ``audioMetadata`` keys.
    """

    # Bounds are the catalog columns' (width/height INTEGER, file_size BIGINT): a value
    # beyond them is that row's error, never a database error for the whole batch.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mime_type: str | None = None
    file_size: int | None = Field(default=None, ge=0, le=INT64_MAX)
    width: int | None = Field(default=None, gt=0, le=INT32_MAX)
    height: int | None = Field(default=None, gt=0, le=INT32_MAX)
    format: str | None = None
    orientation: int | None = Field(default=None, ge=1, le=8)
    duration: float | None = Field(default=None, ge=0)
    fps: float | None = Field(default=None, gt=0)
    sample_rate: int | None = Field(default=None, gt=0, le=INT32_MAX)
    bit_depth: int | None = Field(default=None, gt=0, le=INT32_MAX)
    codec: str | None = None
    num_channels: int | None = Field(default=None, gt=0, le=INT32_MAX)

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)

    def to_encord(self) -> dict[str, Any]:
        """Encord-style camelCase dict (only the fields that are set)."""
        names = {
            "mime_type": "mimeType",
            "file_size": "fileSize",
            "sample_rate": "sampleRate",
            "bit_depth": "bitDepth",
            "num_channels": "numChannels",
        }
        return {names.get(k, k): v for k, v in self.model_dump(exclude_none=True).items()}


class ManifestItem(BaseModel):
    """One valid row of a manifest, in a shape independent of where it came from."""

    row: int = Field(description="1-based row number (CSV data row, JSON item index)")
    url: str = Field(description="object URL exactly as written in the manifest")
    title: str | None = None
    external_id: str | None = None
    media_kind: MediaKind | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    given: MediaMetadata = Field(default_factory=MediaMetadata)
    media_metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="probed metadata a native export carries (stored under given and probed)",
    )


class RowError(BaseModel):
    """A manifest row that cannot be used: which row, which field, and why."""

    row: int
    field: str
    reason: str
    url: str | None = None

    def __str__(self) -> str:
        return f"row {self.row}, field '{self.field}': {self.reason}"


class ManifestFlags(BaseModel):
    """Upload-wide switches a manifest may carry (Encord's names)."""

    skip_duplicate_urls: bool = False
    upsert_metadata: bool = False


class UnitError(BaseModel):
    """A single file that could not be registered.

    ``code`` is one of the stable codes of :mod:`orchestration_pkg.core.unit_errors`;
    ``transient`` says whether retrying it may help. ``item`` (never in JSON) is the compact
    copy of its manifest row that ``retry`` rebuilds the unit from.
    """

    url: str
    error: str
    row: int | None = None
    code: str = "unknown"
    transient: bool = False
    item: dict[str, Any] | None = Field(default=None, exclude=True, repr=False)


class ObjectInfo(BaseModel):
    """What a storage says about one object (from LIST, HEAD or a ranged GET)."""

    model_config = ConfigDict(frozen=True)

    key: str
    size: int | None = None
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None


class JobResult(BaseModel):
    """Outcome of an upload job, as the CLI prints it with ``--json``."""

    job_id: str
    folder: str
    integration: str
    status: JobStatus
    total: int = 0
    registered: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_read: int = 0
    requests: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    stats: dict[str, float] = Field(
        default_factory=dict, description="e.g. total video/audio duration, frames"
    )
    unit_errors: list[UnitError] = Field(default_factory=list)
    warnings: list[UnitError] = Field(
        default_factory=list, description="policy rules broken with on_violation: warn"
    )
    error: str | None = None
    retry_of: str | None = Field(
        default=None, description="the job whose failed units this retried"
    )
    created_at: datetime | None = None
    finished_at: datetime | None = None
    owner: str | None = Field(default=None, description="host:pid of the process running it")
    run_id: str | None = Field(default=None, description="Dagster run id, when run by Dagster")
    started_at: datetime | None = None
    heartbeat_at: datetime | None = Field(
        default=None, description="last sign of life of its process (while PENDING/RUNNING)"
    )
