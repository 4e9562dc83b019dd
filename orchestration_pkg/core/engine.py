"""The registration engine: manifest rows → checked objects → catalog rows, in batches.

One job = one manifest into one folder. Rows stream from the manifest, are grouped into batches
(≤ 1000 images, ≤ 100 videos, as the vendors recommend), each batch is probed concurrently with
per-file retries of transient errors, and written with one bulk upsert per batch. With
``ignore_errors`` every good file is registered and every bad one becomes a unit error; without
it, the first bad file fails the job and nothing of it is committed.
"""

from __future__ import annotations

import logging
import mimetypes
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from orchestration_pkg.core.catalog import Catalog, FileRecord, FileWriter
from orchestration_pkg.core.errors import OrchestrationError, UrlError
from orchestration_pkg.core.folders import validate_folder_name
from orchestration_pkg.core.manifest import Manifest, guess_media_kind
from orchestration_pkg.core.media.dispatch import probe_object
from orchestration_pkg.core.models import (
    JobResult,
    JobStatus,
    ManifestFlags,
    ManifestItem,
    MediaKind,
    MediaMetadata,
    ObjectInfo,
    RowError,
    UnitError,
)
from orchestration_pkg.core.policy import Quotas, Requirements, frames_of, violations
from orchestration_pkg.core.probe import ProbeResult, head_object
from orchestration_pkg.core.quota import QuotaGuard
from orchestration_pkg.core.retry import deadline
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.urls import redact_url
from orchestration_pkg.core.verify import metadata_mismatches

log = logging.getLogger(__name__)

FetchMode = Literal["auto", "head", "none"]
MAX_REPORTED_ERRORS = 10_000


@dataclass
class RegistrationOptions:
    """How a job runs.

    fetch: ``auto`` HEADs every object and reads image headers when the manifest lacks width
    and height; ``head`` never reads content; ``none`` makes no storage call and trusts the
    manifest (fastest; missing objects are not detected).
    """

    ignore_errors: bool = False
    fetch: FetchMode = "auto"
    concurrency: int = 32
    max_images_per_batch: int = 1000
    max_videos_per_batch: int = 100
    folder_description: str | None = None
    folder_metadata: dict | None = None
    verify_metadata: bool = False
    requirements: Requirements | None = None
    quotas: Quotas | None = None

    @property
    def atomic(self) -> bool:
        """One transaction for the whole job: without ignore_errors, or when quotas apply."""
        return not self.ignore_errors or bool(self.quotas and self.quotas.is_set())


@dataclass
class Progress:
    """Running totals passed to the progress callback after every batch."""

    rows: int = 0
    registered: int = 0
    failed: int = 0
    batches: int = 0


@dataclass
class _Planned:
    item: ManifestItem
    key: str
    kind: MediaKind | None


@dataclass
class _Batch:
    planned: list[_Planned] = field(default_factory=list)
    images: int = 0
    videos: int = 0


@dataclass
class _Tally:
    result: JobResult
    kinds: Counter = field(default_factory=Counter)
    aborted: bool = False
    quota: QuotaGuard | None = None
    stats: Counter = field(default_factory=Counter)

    def add_error(self, url: str, error: str, row: int | None) -> None:
        self.result.failed += 1
        if len(self.result.unit_errors) < MAX_REPORTED_ERRORS:
            self.result.unit_errors.append(UnitError(url=redact_url(url), error=error, row=row))

    def add_warning(self, url: str, warning: str, row: int | None) -> None:
        if len(self.result.warnings) < MAX_REPORTED_ERRORS:
            self.result.warnings.append(UnitError(url=redact_url(url), error=warning, row=row))


class RegistrationEngine:
    """Registers manifests into catalog folders through one storage integration."""

    def __init__(self, catalog: Catalog, storage: Storage) -> None:
        self.catalog = catalog
        self.storage = storage

    def register(
        self,
        manifest: Manifest,
        folder: str,
        options: RegistrationOptions | None = None,
        *,
        manifest_name: str = "",
        progress: Callable[[Progress], None] | None = None,
    ) -> JobResult:
        """Run one upload job to completion and return its result (also stored)."""
        opts = options or RegistrationOptions()
        validate_folder_name(folder)  # every way in (CLI, Dagster, API) meets the one rule
        # a missing folder is created for the job, and removed again if the job fails
        target, job_id = self.catalog.start_job(
            folder,
            self.storage.name,
            redact_url(manifest_name),
            ignore_errors=opts.ignore_errors,
            options={"fetch": opts.fetch, "concurrency": opts.concurrency},
            description=opts.folder_description,
            client_metadata=opts.folder_metadata,
        )
        result = JobResult(
            job_id=job_id,
            folder=folder,
            integration=self.storage.name,
            status=JobStatus.PENDING,
            created_at=datetime.now(timezone.utc),
        )
        tally = _Tally(result, quota=QuotaGuard(opts.quotas) if opts.quotas else None)
        try:
            with self.catalog.writer(target.id) as writer:
                self._run(manifest, opts, writer, tally, progress)
                if tally.quota and not tally.aborted:
                    breach = tally.quota.check_folder(*writer.usage())
                    if breach:
                        tally.aborted, result.error = True, f"{breach}: nothing was registered"
                if tally.aborted:
                    writer.rollback()
        except OrchestrationError as exc:  # the manifest itself broke (syntax error mid-file)
            tally.aborted = True
            result.error = str(exc)
        except BaseException as exc:  # a bug or an interrupt: never leave the job PENDING
            result.status, result.error = JobStatus.FAILED, f"aborted: {type(exc).__name__}"
            result.finished_at = datetime.now(timezone.utc)
            self.catalog.finish_job(result)
            raise
        if tally.aborted:
            result.status = JobStatus.FAILED
            result.registered = result.created = result.updated = result.unchanged = 0
            result.error = result.error or (
                f"{result.failed} file(s) failed and ignore_errors is off: nothing was registered"
            )
        else:
            result.status = JobStatus.DONE
            # an existing folder takes the given description/metadata only when the job succeeds
            self.catalog.ensure_folder(folder, opts.folder_description, opts.folder_metadata)
        result.by_kind = dict(tally.kinds) if not tally.aborted else {}
        result.stats = {k: round(v, 3) for k, v in tally.stats.items()} if not tally.aborted else {}
        result.unit_errors.sort(key=lambda e: (e.row is None, e.row or 0))
        result.finished_at = datetime.now(timezone.utc)
        self.catalog.finish_job(result)
        return result

    # -- the pipeline -------------------------------------------------------------------------

    def _run(
        self,
        manifest: Manifest,
        opts: RegistrationOptions,
        writer: FileWriter,
        tally: _Tally,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        flags = manifest.flags
        state = Progress()
        with ThreadPoolExecutor(max_workers=max(1, opts.concurrency)) as pool:
            for batch in self._batches(manifest, opts, tally, state):
                if tally.aborted:
                    continue  # keep reading: report every bad row, probe nothing more
                self._process(batch, opts, flags, writer, tally, pool)
                if not opts.atomic:
                    writer.commit()
                state.batches += 1
                state.registered = tally.result.registered
                state.failed = tally.result.failed
                if progress:
                    progress(state)
        state.failed = tally.result.failed
        if progress:
            progress(state)

    def _batches(
        self,
        manifest: Iterable[ManifestItem | RowError],
        opts: RegistrationOptions,
        tally: _Tally,
        state: Progress,
    ) -> Iterable[_Batch]:
        batch = _Batch()
        for entry in manifest:
            state.rows += 1
            tally.result.total += 1
            planned = self._plan(entry, tally, opts)
            if planned is None:
                continue
            batch.planned.append(planned)
            batch.images += planned.kind in (MediaKind.IMAGE, MediaKind.IMAGE_GROUP, None)
            batch.videos += planned.kind is MediaKind.VIDEO
            if (
                batch.images >= opts.max_images_per_batch
                or batch.videos >= opts.max_videos_per_batch
                or len(batch.planned) >= opts.max_images_per_batch
            ):
                yield batch
                batch = _Batch()
        if batch.planned:
            yield batch

    def _plan(
        self, entry: ManifestItem | RowError, tally: _Tally, opts: RegistrationOptions
    ) -> _Planned | None:
        if isinstance(entry, RowError):
            tally.add_error(entry.url or f"(row {entry.row})", str(entry), entry.row)
            tally.aborted |= not opts.ignore_errors
            return None
        try:
            key = self.storage.parse_url(entry.url)
        except UrlError as exc:
            tally.add_error(entry.url, f"row {entry.row}, field '{exc.field}': {exc}", entry.row)
            tally.aborted |= not opts.ignore_errors
            return None
        kind = entry.media_kind or guess_media_kind(self.storage.canonical_url(key))
        return _Planned(item=entry, key=key, kind=kind)

    def _process(
        self,
        batch: _Batch,
        opts: RegistrationOptions,
        flags: ManifestFlags,
        writer: FileWriter,
        tally: _Tally,
        pool: ThreadPoolExecutor,
    ) -> None:
        outcomes = list(pool.map(lambda p: self._fetch(p, opts), batch.planned))
        records: list[FileRecord] = []
        for planned, outcome in zip(batch.planned, outcomes, strict=True):
            if isinstance(outcome, str):
                tally.add_error(planned.item.url, outcome, planned.item.row)
                tally.aborted |= not opts.ignore_errors
                continue
            tally.result.bytes_read += outcome.bytes_read
            tally.result.requests += outcome.requests
            record = self._record(planned, outcome)
            if self._assess(planned, record, opts, tally):
                records.append(record)
        if tally.aborted:
            return
        if tally.quota:
            images = sum(r.media_kind in _IMAGE_KINDS for r in records)
            breach = tally.quota.add(images, sum(r.frame_count or 0 for r in records))
            if breach:
                tally.aborted = True
                tally.result.error = f"{breach}: nothing was registered"
                return
        counts = writer.upsert(
            records,
            skip_existing=flags.skip_duplicate_urls,
            update_client_metadata=flags.upsert_metadata or not flags.skip_duplicate_urls,
        )
        res = tally.result
        res.created += counts.created
        res.updated += counts.updated
        res.unchanged += counts.unchanged
        res.skipped += counts.skipped
        res.registered = res.created + res.updated + res.unchanged
        tally.kinds.update(r.media_kind or "other" for r in records)
        for r in records:
            if r.media_kind in ("video", "audio") and r.media_metadata.get("duration"):
                tally.stats[f"{r.media_kind}_seconds"] += float(r.media_metadata["duration"])
            if r.frame_count:
                tally.stats["video_frames"] += r.frame_count

    def _assess(
        self, planned: _Planned, record: FileRecord, opts: RegistrationOptions, tally: _Tally
    ) -> bool:
        """Verify given metadata and apply requirement rules; False = the file is refused."""
        problems: list[str] = []
        if opts.verify_metadata:
            problems += metadata_mismatches(planned.item.given, record.media_metadata)
        broken = (
            violations(
                record.media_metadata.get("kind") or record.media_kind,
                record.media_metadata,
                opts.requirements,
            )
            if opts.requirements
            else []
        )
        if broken and opts.requirements and opts.requirements.on_violation == "warn":
            for rule in broken:
                tally.add_warning(planned.item.url, rule, planned.item.row)
            broken = []
        problems += broken
        if not problems:
            return True
        where = self.storage.canonical_url(planned.key)
        tally.add_error(planned.item.url, f"{where}: {'; '.join(problems)}", planned.item.row)
        tally.aborted |= not opts.ignore_errors
        return False

    def _fetch(self, planned: _Planned, opts: RegistrationOptions) -> ProbeResult | str:
        """Probe one object within its retry deadline; a string is the unit error."""
        if self.storage.strict_client_only:
            missing = missing_strict_metadata(planned.kind, planned.item.given)
            if missing:
                return (
                    f"row {planned.item.row}: strict client-only integration "
                    f"'{self.storage.name}' never fetches, so the row must carry "
                    f"{missing[0]} with {', '.join(missing[1])}"
                )
            return _from_manifest(planned)
        if opts.fetch == "none":
            return _from_manifest(planned)
        wants_probe = opts.fetch == "auto" and (
            opts.verify_metadata or _needs_probe(planned.kind, planned.item.given)
        )
        if wants_probe:
            kind = planned.kind

            def call(storage: Storage, key: str) -> ProbeResult:
                return probe_object(storage, key, kind)
        else:
            call = head_object
        # Every request inside retries by the storage's one policy; the object's deadline
        # bounds all of them together (HEAD, ranged reads, re-reads).
        try:
            with deadline(self.storage.retry_policy.object_deadline_seconds):
                return call(self.storage, planned.key)
        except OrchestrationError as exc:
            return str(exc)

    def _record(self, planned: _Planned, probe: ProbeResult) -> FileRecord:
        item, info = planned.item, probe.info
        meta = {**item.given.model_dump(exclude_none=True), **probe.metadata}
        kind = (
            _SNIFFED_KINDS.get(probe.metadata.get("kind", ""))
            or planned.kind
            or _kind_from_type(info.content_type or meta.get("mime_type"))
        )
        canonical = self.storage.canonical_url(planned.key)
        content_type = (
            info.content_type or meta.get("mime_type") or mimetypes.guess_type(canonical)[0]
        )
        return FileRecord(
            object_url=canonical,
            key=self.storage.record_key(planned.key),
            integration=self.storage.name,
            size=info.size if info.size is not None else meta.get("file_size"),
            etag=info.etag,
            content_type=content_type,
            last_modified=info.last_modified,
            media_kind=(kind or MediaKind.OTHER).value,
            width=meta.get("width"),
            height=meta.get("height"),
            frame_count=frames_of(meta) or None if kind is MediaKind.VIDEO else None,
            title=item.title,
            external_id=item.external_id,
            media_metadata=meta,
            client_metadata=item.client_metadata,
        )


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


def _from_manifest(planned: _Planned) -> ProbeResult:
    """A probe result made only of what the manifest says (fetch mode ``none``)."""
    given = planned.item.given
    info = ObjectInfo(key=planned.key, size=given.file_size, content_type=given.mime_type)
    return ProbeResult(info=info, metadata={}, bytes_read=0, requests=0)


_IMAGE_KINDS = (MediaKind.IMAGE.value, MediaKind.IMAGE_GROUP.value)
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


def _needs_probe(kind: MediaKind | None, given: MediaMetadata) -> bool:
    fields = _PROBE_FIELDS.get(kind) if kind else None
    if not fields:
        return False
    return any(f == "__always__" or getattr(given, f) is None for f in fields)


def _kind_from_type(content_type: str | None) -> MediaKind | None:
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
