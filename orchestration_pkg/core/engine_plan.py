"""Pure planning helpers of the registration engine.

The per-row plan, batch and tally records, and the rules deciding a row's media kind,
whether ``fetch=auto`` must probe it and what a strict client-only row must carry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestration_pkg.core.catalog import FileRecord, UpsertCounts
from orchestration_pkg.core.dedupe import RowDeduper
from orchestration_pkg.core.models import (
    JobResult,
    ManifestItem,
    MediaKind,
    MediaMetadata,
    ObjectInfo,
    UnitError,
)
from orchestration_pkg.core.probe import ProbeResult
from orchestration_pkg.core.quota import QuotaGuard
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.unit_errors import STRICT_METADATA, Failure, guarded, retry_item
from orchestration_pkg.core.urls import redact_url

MAX_REPORTED_ERRORS = 10_000


class ListedItem(ManifestItem):
    """A row made from a bucket listing (prefix sync): the listing's facts (size, ETag, last
    modified) stand in for a HEAD and are what the catalog records, so the next sync compares
    like with like."""

    listed: ObjectInfo


@dataclass
class Planned:
    """One manifest row ready to fetch: its storage key and expected media kind."""

    item: ManifestItem
    key: str
    kind: MediaKind | None


@dataclass
class Batch:
    """Planned rows probed together and written with one bulk upsert."""

    planned: list[Planned] = field(default_factory=list)
    images: int = 0
    videos: int = 0


@dataclass
class Tally:
    """What a job has done so far: its result, counts by kind, quota use and stats."""

    result: JobResult
    kinds: Counter = field(default_factory=Counter)
    aborted: bool = False
    quota: QuotaGuard | None = None
    stats: Counter = field(default_factory=Counter)
    dedupe: RowDeduper = field(default_factory=RowDeduper)
    staged: int = 0  # rows a strict job staged, published at its end

    def add_error(
        self, url: str, error: str | Failure, row: int | None, item: dict | None = None
    ) -> None:
        """Count one failed unit; ``error`` a message (code ``unknown``) or a :class:`Failure`."""
        fail = error if isinstance(error, Failure) else Failure(error)
        self.result.failed += 1
        if len(self.result.unit_errors) < MAX_REPORTED_ERRORS:
            self.result.unit_errors.append(
                UnitError(
                    url=redact_url(url),
                    error=fail.message,
                    row=row,
                    code=fail.code,
                    transient=fail.transient,
                    item=item,
                )
            )

    def fail(self, planned: Planned, failure: Failure, storage: Storage) -> None:
        """Count the failed unit ``planned``, with the copy of its row a retry needs."""
        item = guarded(lambda: retry_item(planned.item, storage, planned.key))
        self.add_error(planned.item.url, failure, planned.item.row, _or_none(item))

    def add_warning(self, url: str, warning: str, row: int | None) -> None:
        if len(self.result.warnings) < MAX_REPORTED_ERRORS:
            self.result.warnings.append(UnitError(url=redact_url(url), error=warning, row=row))

    def add_written(self, counts: UpsertCounts, records: Sequence[FileRecord]) -> None:
        """Count one written batch: upsert outcomes, files by kind, media seconds and frames."""
        self.add_counts(counts)
        self.add_records(records)

    def add_counts(self, counts: UpsertCounts) -> None:
        """Count upsert outcomes (a committed batch, or a strict job's whole publish)."""
        res = self.result
        res.created += counts.created
        res.updated += counts.updated
        res.unchanged += counts.unchanged
        res.skipped += counts.skipped
        res.registered = res.created + res.updated + res.unchanged

    def clear_written(self) -> None:
        """Nothing of the job reached the folder (a strict job that did not publish)."""
        res = self.result
        res.registered = res.created = res.updated = res.unchanged = 0
        self.kinds.clear()
        self.stats.clear()

    def add_records(self, records: Sequence[FileRecord]) -> None:
        """Count files by kind, media seconds and frames of a written or staged batch."""
        self.kinds.update(r.media_kind or "other" for r in records)
        for r in records:
            if r.media_kind in ("video", "audio") and r.media_metadata.get("duration"):
                self.stats[f"{r.media_kind}_seconds"] += float(r.media_metadata["duration"])
            if r.frame_count:
                self.stats["video_frames"] += r.frame_count


def _or_none(item: dict | None | Failure) -> dict | None:
    return None if isinstance(item, Failure) else item


# What a row must carry when nothing may be fetched (Encord's names, as users write them).
_STRICT_FIELDS: dict[MediaKind | None, tuple[str, tuple[str, ...]]] = {
    MediaKind.IMAGE: ("imageMetadata", ("width", "height", "mime_type", "file_size")),
    MediaKind.IMAGE_GROUP: ("imageMetadata", ("width", "height", "mime_type", "file_size")),
    MediaKind.DICOM_SERIES: ("imageMetadata", ("mime_type", "file_size")),
    MediaKind.VIDEO: (
        "videoMetadata",
        ("width", "height", "duration", "fps", "mime_type", "file_size"),
    ),
    MediaKind.AUDIO: ("audioMetadata", ("duration", "mime_type", "file_size")),
}
_DEFAULT_STRICT = ("metadata", ("mime_type", "file_size"))


def missing_strict_metadata(
    kind: MediaKind | None, given: MediaMetadata
) -> tuple[str, list[str]] | None:
    """For strict client-only rows: (block name, missing camelCase fields) or None if complete."""
    block, fields = _STRICT_FIELDS.get(kind, _DEFAULT_STRICT)
    missing = [f for f in fields if getattr(given, f) is None]
    if not missing:
        return None
    names = {"mime_type": "mimeType", "file_size": "fileSize"}
    return block, [names.get(f, f) for f in missing]


def strict_row_problem(planned: Planned, integration: str) -> Failure | None:
    """The unit error of a row a strict client-only integration cannot register (None: ok)."""
    missing = missing_strict_metadata(planned.kind, planned.item.given)
    if not missing:
        return None
    return Failure(
        f"row {planned.item.row}: strict client-only integration "
        f"'{integration}' never fetches, so the row must carry "
        f"{missing[0]} with {', '.join(missing[1])}",
        STRICT_METADATA,
    )


def from_manifest(planned: Planned) -> ProbeResult:
    """A probe result made only of what the manifest (or the listing) says: no request."""
    given = planned.item.given
    info = ObjectInfo(key=planned.key, size=given.file_size, content_type=given.mime_type)
    if isinstance(planned.item, ListedItem):
        info = listed_info(planned.item, info)
    return ProbeResult(info=info, metadata={}, bytes_read=0, requests=0)


def listed_info(item: ListedItem, info: ObjectInfo) -> ObjectInfo:
    """``info`` with the listing's size, ETag and last-modified where the listing has them."""
    listed = item.listed
    facts = {"size": listed.size, "etag": listed.etag, "last_modified": listed.last_modified}
    return info.model_copy(update={k: v for k, v in facts.items() if v is not None})


# The catalog's media kinds that count as images for quotas.
IMAGE_KINDS = (MediaKind.IMAGE.value, MediaKind.IMAGE_GROUP.value)
# The ``kind`` of a probed metadata model → the catalog's media kind (content beats names).
_SNIFFED_KINDS = {
    "image": MediaKind.IMAGE,
    "raster": MediaKind.IMAGE,
    "video": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "pdf": MediaKind.PDF,
    "text": MediaKind.TEXT,
}
# Fields whose absence from the manifest makes ``fetch=auto`` read the object's header.
_PROBE_FIELDS: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.IMAGE: ("width", "height"),
    MediaKind.IMAGE_GROUP: ("width", "height"),
    MediaKind.VIDEO: ("width", "height", "duration", "fps"),
    MediaKind.AUDIO: ("duration", "sample_rate"),
    MediaKind.PDF: ("__always__",),
    MediaKind.TEXT: ("__always__",),
}


def needs_probe(kind: MediaKind | None, given: MediaMetadata) -> bool:
    """Whether ``fetch=auto`` must read the object: the row lacks what the content gives."""
    fields = _PROBE_FIELDS.get(kind) if kind else None
    if not fields:
        return False
    return any(f == "__always__" or getattr(given, f) is None for f in fields)


def record_kind(
    sniffed: str, planned: MediaKind | None, content_type: str | None
) -> MediaKind | None:
    """A file's media kind: what its content says, else the row's, else its MIME type's."""
    return _SNIFFED_KINDS.get(sniffed) or planned or kind_from_type(content_type)


def kind_from_type(content_type: str | None) -> MediaKind | None:
    """The media kind a MIME type names (None: unknown or not given)."""
    if not content_type:
        return None
    major = content_type.split("/", 1)[0]
    if content_type == "application/pdf":
        return MediaKind.PDF
    return {
        "image": MediaKind.IMAGE,
        "video": MediaKind.VIDEO,
        "audio": MediaKind.AUDIO,
        "text": MediaKind.TEXT,
    }.get(major)
