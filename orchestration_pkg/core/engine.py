"""The registration engine: manifest rows → checked objects → catalog rows, in batches.

One job = one manifest into one folder. Rows stream from the manifest, are grouped into batches
(≤ 1000 images, ≤ 100 videos, as the vendors recommend), each batch is probed concurrently with
per-file retries of transient errors, and written with one bulk upsert per batch, each in its
own short transaction after the batch's network I/O. With ``ignore_errors`` every good file is
registered (each batch visible once written) and every bad one becomes a unit error; without
it, batches are staged out of readers' sight and published in one transaction at the end, and
the first bad file fails the job: nothing of it is published.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

from orchestration_pkg.core import unit_errors as ue
from orchestration_pkg.core.catalog import Catalog, FileRecord
from orchestration_pkg.core.catalog.lifecycle import Heartbeat
from orchestration_pkg.core.engine_job import JobRecord, JobRun
from orchestration_pkg.core.engine_plan import (
    IMAGE_KINDS,
    Batch,
    ListedItem,
    Planned,
    Tally,
    from_manifest,
    listed_info,
    missing_strict_metadata,
    needs_probe,
    record_kind,
    strict_row_problem,
)
from orchestration_pkg.core.errors import OrchestrationError, UrlError
from orchestration_pkg.core.folders import validate_folder_name
from orchestration_pkg.core.manifest import Manifest, guess_media_kind
from orchestration_pkg.core.media.dispatch import probe_object
from orchestration_pkg.core.models import (
    JobResult,
    ManifestFlags,
    ManifestItem,
    MediaKind,
    RowError,
)
from orchestration_pkg.core.policy import Quotas, Requirements, frames_of, violations
from orchestration_pkg.core.probe import ProbeResult, head_object
from orchestration_pkg.core.record_checks import record_problem
from orchestration_pkg.core.retry import deadline
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.unit_errors import Failure, failure, guarded
from orchestration_pkg.core.urls import redact_url
from orchestration_pkg.core.verify import metadata_mismatches

log = logging.getLogger(__name__)

# missing_strict_metadata moved to engine_plan; importers of it from here keep working.
__all__ = ["Progress", "RegistrationEngine", "RegistrationOptions", "missing_strict_metadata"]

FetchMode = Literal["auto", "head", "none"]


class ItemSource(Protocol):
    """What a job reads: a :class:`Manifest`, or any iterable of rows with manifest flags
    (a prefix sync feeds the objects its listing found new or changed)."""

    flags: ManifestFlags

    def __iter__(self) -> Iterator[ManifestItem | RowError]: ...


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
    retry_of: str | None = None  # the job whose failed units this job retries
    run_id: str | None = None  # the Dagster run doing it (default: $DAGSTER_RUN_ID)

    @property
    def atomic(self) -> bool:
        """All or nothing as readers see it (rows staged, published at the end): without
        ignore_errors, or when quotas apply."""
        return not self.ignore_errors or bool(self.quotas and self.quotas.is_set())


@dataclass
class Progress:
    """Running totals passed to the progress callback after every batch."""

    rows: int = 0
    registered: int = 0
    failed: int = 0
    batches: int = 0


class RegistrationEngine:
    """Registers manifests into catalog folders through one storage integration."""

    def __init__(self, catalog: Catalog, storage: Storage) -> None:
        self.catalog = catalog
        self.storage = storage

    def register(
        self,
        manifest: Manifest | ItemSource,
        folder: str,
        options: RegistrationOptions | None = None,
        *,
        manifest_name: str = "",
        progress: Callable[[Progress], None] | None = None,
        finalize: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        """Run one upload job to completion and return its result (also stored).

        The job is PENDING once recorded, RUNNING with a heartbeat while it works, then DONE or
        FAILED (ABANDONED if a sweep gave it up meanwhile); see :mod:`.engine_job`.
        ``finalize`` runs once the job succeeded and its files are committed, before the job
        is recorded DONE (a prefix sync applies its removals there); if it raises, the job is
        recorded FAILED and the exception propagates (an :class:`OrchestrationError` only
        fails the job). An interrupt or a bug also records the job FAILED, then propagates.
        """
        opts = options or RegistrationOptions()
        validate_folder_name(folder)  # every way in (CLI, Dagster, API) meets the one rule
        self.catalog.sweep_stale()  # jobs of crashed processes are given up first
        job = JobRecord(self.catalog, self.storage.name, folder, opts)
        try:
            run = job.start(redact_url(manifest_name), manifest.flags)
            with Heartbeat(self.catalog, run.job_id):
                try:
                    self._run(manifest, opts, run, job.tally, progress)
                    if opts.atomic and not job.tally.aborted:
                        job.publish(run)
                except OrchestrationError as exc:  # broken manifest, busy catalog, swept
                    job.stopped(exc)
                job.conclude(finalize)
        except BaseException as exc:
            if job.started:
                job.abort(exc)
            raise
        return job.finish()

    # -- the pipeline -------------------------------------------------------------------------

    def _run(
        self,
        manifest: Manifest | ItemSource,
        opts: RegistrationOptions,
        run: JobRun,
        tally: Tally,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        state = Progress()
        pool = ThreadPoolExecutor(max_workers=max(1, opts.concurrency))
        try:
            for batch in self._batches(manifest, opts, tally, state):
                if tally.aborted:
                    continue  # keep reading: report every bad row, probe nothing more
                self._process(batch, opts, run, tally, pool)
                state.batches += 1
                state.registered = tally.result.registered + tally.staged
                state.failed = tally.result.failed
                if progress:
                    progress(state)
        finally:  # an interrupt must not wait for the probes still queued
            pool.shutdown(wait=False, cancel_futures=True)
        state.failed = tally.result.failed
        if progress:
            progress(state)

    def _batches(
        self,
        manifest: Iterable[ManifestItem | RowError],
        opts: RegistrationOptions,
        tally: Tally,
        state: Progress,
    ) -> Iterable[Batch]:
        batch = Batch()
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
                batch = Batch()
        if batch.planned:
            yield batch

    def _plan(
        self, entry: ManifestItem | RowError, tally: Tally, opts: RegistrationOptions
    ) -> Planned | None:
        if isinstance(entry, RowError):
            bad = Failure(str(entry), ue.MALFORMED_ROW)
            tally.add_error(entry.url or f"(row {entry.row})", bad, entry.row)
            tally.aborted |= not opts.ignore_errors
            return None
        try:
            # a listed object's key is the listing's own: no URL round trip
            if isinstance(entry, ListedItem):
                key = entry.listed.key
            else:
                key = self.storage.parse_url(entry.url)
            kind = entry.media_kind or guess_media_kind(self.storage.canonical_url(key))
            if not isinstance(entry, ListedItem) and tally.dedupe.repeated(key, entry):
                tally.stats["duplicate_rows"] += 1  # an identical earlier row: probed once
                return None
        except Exception as exc:  # noqa: BLE001 - the per-file boundary: this row's error
            why = failure(exc)
            if isinstance(exc, UrlError):
                why = Failure(f"row {entry.row}, field '{exc.field}': {exc}", ue.BAD_URL)
            item = guarded(lambda: ue.retry_item(entry))
            tally.add_error(entry.url, why, entry.row, None if isinstance(item, Failure) else item)
            tally.aborted |= not opts.ignore_errors
            return None
        return Planned(item=entry, key=key, kind=kind)

    def _process(
        self,
        batch: Batch,
        opts: RegistrationOptions,
        run: JobRun,
        tally: Tally,
        pool: ThreadPoolExecutor,
    ) -> None:
        """Probe one batch (no transaction open), then write it in one short transaction."""
        # guarded: any exception of one file becomes its unit error (the per-file boundary)
        outcomes = list(pool.map(lambda p: guarded(lambda: self._fetch(p, opts)), batch.planned))
        records: list[FileRecord] = []
        for planned, outcome in zip(batch.planned, outcomes, strict=True):
            if not isinstance(outcome, Failure):
                tally.result.bytes_read += outcome.bytes_read
                tally.result.requests += outcome.requests
                outcome = guarded(lambda: self._accept(planned, outcome, opts, tally))  # noqa: B023
            if isinstance(outcome, Failure):
                tally.fail(planned, outcome, self.storage)
                tally.aborted |= not opts.ignore_errors
                continue
            records.append(outcome)
        if tally.aborted:
            return
        if tally.quota:
            images = sum(r.media_kind in IMAGE_KINDS for r in records)
            breach = tally.quota.add(images, sum(r.frame_count or 0 for r in records))
            if breach:
                tally.aborted = True
                tally.result.error = f"{breach}: nothing was registered"
                return
        run.batches += 1
        if opts.atomic:  # out of sight until the job publishes everything at once
            tally.staged += self.catalog.stage_batch(run.job_id, run.batches, records)
            tally.add_records(records)
            return
        counts = self.catalog.write_batch(
            run.job_id,
            run.folder_id,
            records,
            skip_existing=run.flags.skip_duplicate_urls,
            update_client_metadata=run.flags.upsert_metadata or not run.flags.skip_duplicate_urls,
        )
        tally.add_written(counts, records)

    def _accept(
        self, planned: Planned, probe: ProbeResult, opts: RegistrationOptions, tally: Tally
    ) -> FileRecord | Failure:
        """The file's catalog record, or why it is refused (fit, verification, rules)."""
        record = self._record(planned, probe)
        where = self.storage.canonical_url(planned.key)
        return record_problem(record, where) or self._assess(planned, record, opts, tally) or record

    def _assess(
        self, planned: Planned, record: FileRecord, opts: RegistrationOptions, tally: Tally
    ) -> Failure | None:
        """Verify given metadata and apply requirement rules; a Failure = the file is refused."""
        problems: list[str] = []
        if opts.verify_metadata:
            problems += metadata_mismatches(planned.item.given, record.media_metadata)
        code = ue.MISMATCH if problems else ue.POLICY
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
            return None
        where = self.storage.canonical_url(planned.key)
        return Failure(f"{where}: {'; '.join(problems)}", code)

    def _fetch(self, planned: Planned, opts: RegistrationOptions) -> ProbeResult | Failure:
        """Probe one object within its retry deadline; a :class:`Failure` is the unit error."""
        if self.storage.strict_client_only:
            return strict_row_problem(planned, self.storage.name) or from_manifest(planned)
        wants_probe = opts.fetch == "auto" and (
            opts.verify_metadata or needs_probe(planned.kind, planned.item.given)
        )
        listed = isinstance(planned.item, ListedItem)
        if opts.fetch == "none" or (listed and opts.fetch == "auto" and not wants_probe):
            return from_manifest(planned)  # a listing already said what a HEAD would
        if wants_probe:
            kind = planned.kind

            def call(storage: Storage, key: str) -> ProbeResult:
                return probe_object(storage, key, kind)
        else:
            call = head_object
        # Every request inside retries by the storage's one policy; the object's deadline
        # bounds all of them together (HEAD, ranged reads, re-reads).
        with deadline(self.storage.retry_policy.object_deadline_seconds):
            return call(self.storage, planned.key)

    def _record(self, planned: Planned, probe: ProbeResult) -> FileRecord:
        item, info = planned.item, probe.info
        if isinstance(item, ListedItem):
            info = listed_info(item, info)  # what the next sync's listing will compare with
        meta = {**item.media_metadata, **item.given.model_dump(exclude_none=True), **probe.metadata}
        sniffed = probe.metadata.get("kind", "")
        kind = record_kind(sniffed, planned.kind, info.content_type or meta.get("mime_type"))
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
