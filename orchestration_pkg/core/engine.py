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
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from orchestration_pkg.core.catalog import Catalog, FileRecord, FileWriter
from orchestration_pkg.core.errors import OrchestrationError, StorageError, UrlError
from orchestration_pkg.core.manifest import Manifest, guess_media_kind
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
from orchestration_pkg.core.probe import ProbeResult, head_object, probe_image
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.urls import redact_url

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
    max_attempts: int = 4
    backoff_seconds: float = 0.25
    max_images_per_batch: int = 1000
    max_videos_per_batch: int = 100
    folder_description: str | None = None
    folder_metadata: dict | None = None


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

    def add_error(self, url: str, error: str, row: int | None) -> None:
        self.result.failed += 1
        if len(self.result.unit_errors) < MAX_REPORTED_ERRORS:
            self.result.unit_errors.append(UnitError(url=redact_url(url), error=error, row=row))


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
        target = self.catalog.ensure_folder(folder, opts.folder_description, opts.folder_metadata)
        job_id = self.catalog.create_job(
            target.id,
            self.storage.name,
            redact_url(manifest_name),
            ignore_errors=opts.ignore_errors,
            options={"fetch": opts.fetch, "concurrency": opts.concurrency},
        )
        result = JobResult(
            job_id=job_id,
            folder=folder,
            integration=self.storage.name,
            status=JobStatus.PENDING,
            created_at=datetime.now(timezone.utc),
        )
        tally = _Tally(result)
        try:
            with self.catalog.writer(target.id) as writer:
                self._run(manifest, opts, writer, tally, progress)
                if tally.aborted:
                    writer.rollback()
        except OrchestrationError as exc:  # the manifest itself broke (syntax error mid-file)
            tally.aborted = True
            result.error = str(exc)
        if tally.aborted:
            result.status = JobStatus.FAILED
            result.registered = result.created = result.updated = result.unchanged = 0
            result.error = result.error or (
                f"{result.failed} file(s) failed and ignore_errors is off: nothing was registered"
            )
        else:
            result.status = JobStatus.DONE
        result.by_kind = dict(tally.kinds) if not tally.aborted else {}
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
                if opts.ignore_errors:
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
            records.append(self._record(planned, outcome))
        if tally.aborted:
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

    def _fetch(self, planned: _Planned, opts: RegistrationOptions) -> ProbeResult | str:
        """Probe one object with retries; a string is the unit error."""
        if getattr(self.storage, "strict_client_only", False):
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
        given = planned.item.given
        wants_header = (
            opts.fetch == "auto"
            and planned.kind in (MediaKind.IMAGE, MediaKind.IMAGE_GROUP)
            and (given.width is None or given.height is None)
        )
        call = probe_image if wants_header else head_object
        for attempt in range(1, opts.max_attempts + 1):
            try:
                return call(self.storage, planned.key)
            except StorageError as exc:
                if not exc.transient or attempt == opts.max_attempts:
                    return str(exc)
                delay = opts.backoff_seconds * (2 ** (attempt - 1)) * (0.5 + random.random())
                shown = self.storage.canonical_url(planned.key)  # never a signed query string
                log.info("retrying %s after %s (attempt %d)", shown, exc.code, attempt)
                time.sleep(delay)
            except OrchestrationError as exc:
                return str(exc)
        return "unreachable"  # pragma: no cover

    def _record(self, planned: _Planned, probe: ProbeResult) -> FileRecord:
        item, info = planned.item, probe.info
        meta = _merge(item.given, probe.metadata)
        kind = planned.kind or _kind_from_type(info.content_type or meta.mime_type)
        canonical = self.storage.canonical_url(planned.key)
        content_type = info.content_type or meta.mime_type or mimetypes.guess_type(canonical)[0]
        record_key = getattr(self.storage, "record_key", None)
        return FileRecord(
            object_url=canonical,
            key=record_key(planned.key) if record_key else planned.key,
            integration=self.storage.name,
            size=info.size if info.size is not None else meta.file_size,
            etag=info.etag,
            content_type=content_type,
            last_modified=info.last_modified,
            media_kind=(kind or MediaKind.OTHER).value,
            width=meta.width,
            height=meta.height,
            title=item.title,
            external_id=item.external_id,
            media_metadata=meta.model_dump(exclude_none=True),
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
    return ProbeResult(info=info, metadata=MediaMetadata(), bytes_read=0, requests=0)


def _merge(given: MediaMetadata, probed: MediaMetadata) -> MediaMetadata:
    """Probed values win; the manifest fills what was not probed."""
    data = given.model_dump(exclude_none=True)
    data.update(probed.model_dump(exclude_none=True))
    return MediaMetadata(**data)


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
