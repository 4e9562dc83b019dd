"""Prefix sync: reconcile a catalog folder with what a bucket prefix holds now.

One pass, streamed: the bucket listing (key order) is merged against the folder's rows of the
same integration under the same prefix, read from the catalog in key byte order, page by page
(:mod:`orchestration_pkg.core.catalog.sync_queries`). Neither side is ever held whole:

* a key only in the listing is new, a key in both whose ETag or size differs (or whose row
  was marked removed) is changed: both go to the :class:`RegistrationEngine` as
  :class:`ListedItem` rows, so probing, batching, retries, unit errors, quotas, atomicity and
  the job record are the engine's;
* a key only in the catalog is gone: its row id is spooled to a temporary file and, once the
  job succeeded and its writes are committed, marked (``removed_at``) or deleted in short
  transactions (``on_delete``: keep | mark | remove);
* a key in both with the same ETag and size costs nothing: an unchanged bucket costs one
  listing and one catalog read, no HEAD and no GET.

Both orders must agree, so the merge checks them as it goes: a listing or a catalog page out
of byte order fails the job (nothing is removed) instead of mistaking keys for new or gone.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog.sync_queries import (
    SyncRow,
    delete_rows,
    iter_sync_rows,
    mark_removed,
)
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig
from orchestration_pkg.core.engine import Progress, RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.engine_plan import ListedItem
from orchestration_pkg.core.errors import ConfigError, OrchestrationError
from orchestration_pkg.core.folders import validate_folder_name
from orchestration_pkg.core.models import (
    JobResult,
    JobStatus,
    ManifestFlags,
    MediaMetadata,
    ObjectInfo,
)
from orchestration_pkg.core.providers.base import OnDelete
from orchestration_pkg.core.registration import build_storage, with_policies
from orchestration_pkg.core.storage import Storage

ON_DELETE = ("keep", "mark", "remove")
PROGRESS_EVERY = 1000


class SyncOrderError(OrchestrationError):
    """The listing and the catalog disagree on key order: the diff cannot be trusted."""


@dataclass
class SyncProgress:
    """Running totals of a sync, passed to the progress callback."""

    listed: int = 0
    to_register: int = 0
    unchanged: int = 0
    registered: int = 0
    failed: int = 0


@dataclass
class SyncResult:
    """What a sync did; ``job`` is its registration job (also in the catalog)."""

    job: JobResult
    prefix: str
    listed: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0

    def as_json(self) -> dict[str, Any]:
        job = self.job
        return {
            "job_id": job.job_id,
            "status": job.status.value,
            "folder": job.folder,
            "integration": job.integration,
            "prefix": self.prefix,
            "listed": self.listed,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "error": job.error,
            "unit_errors": [{"url": e.url, "error": e.error} for e in job.unit_errors],
        }


class _IdSpool:
    """Row ids written to a temporary file (8 bytes each): bounded memory for any count."""

    def __init__(self) -> None:
        # closed by close(), which the sync calls in a finally
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="op-sync-")  # noqa: SIM115
        self._buffer = array("q")
        self.count = 0

    def add(self, row_id: int) -> None:
        self._buffer.append(row_id)
        self.count += 1
        if len(self._buffer) >= 8192:
            self._file.write(self._buffer.tobytes())
            self._buffer = array("q")

    def __iter__(self) -> Iterator[int]:
        self._file.write(self._buffer.tobytes())
        self._buffer = array("q")
        self._file.seek(0)
        while chunk := self._file.read(8 * 8192):
            yield from array("q", chunk)

    def close(self) -> None:
        self._file.close()


def _changed(info: ObjectInfo, row: SyncRow) -> bool:
    """Whether the listed object differs from what the row recorded (ETag, else size/time)."""
    if info.size is not None and row.size is not None and info.size != row.size:
        return True
    if info.etag and row.etag:
        return info.etag != row.etag
    return (info.size, info.last_modified) != (row.size, row.last_modified)


def merge(
    listing: Iterator[ObjectInfo], rows: Iterator[SyncRow], canonical_url: Callable[[str], str]
) -> Iterator[tuple[ObjectInfo | None, SyncRow | None]]:
    """Pair listed objects with catalog rows by key (both in byte order): (object, row),
    (object, None) for a new key, (None, row) for a gone one.

    A row of the same key but another URL (the integration once pointed elsewhere) is gone.
    """
    previous_key: str | None = None
    previous_row: str | None = None

    def next_row() -> SyncRow | None:
        nonlocal previous_row
        row = next(rows, None)
        if row is not None:
            if previous_row is not None and row.key < previous_row:
                raise SyncOrderError(
                    f"catalog rows out of byte order ({previous_row!r} before {row.key!r}): "
                    "check the database collation"
                )
            previous_row = row.key
        return row

    row = next_row()
    for info in listing:
        if previous_key is not None and info.key <= previous_key:
            raise SyncOrderError(
                f"bucket listing out of key order ({previous_key!r} before {info.key!r}); "
                "nothing was removed"
            )
        previous_key = info.key
        while row is not None and row.key < info.key:
            yield None, row
            row = next_row()
        while row is not None and row.key == info.key and row.object_url != canonical_url(info.key):
            yield None, row
            row = next_row()
        if row is not None and row.key == info.key:
            yield info, row
            row = next_row()
        else:
            yield info, None
    while row is not None:
        yield None, row
        row = next_row()


@dataclass
class _ListingDiff:
    """The engine's row source: new and changed objects of one merge pass; counts the rest."""

    catalog: Catalog
    storage: Storage
    folder: str
    prefix: str
    key_prefix: str
    on_delete: OnDelete
    progress: Callable[[SyncProgress], None] | None = None
    flags: ManifestFlags = field(default_factory=ManifestFlags)
    state: SyncProgress = field(default_factory=SyncProgress)
    gone: _IdSpool = field(default_factory=_IdSpool)

    def __iter__(self) -> Iterator[ListedItem]:
        folder_id = self.catalog.get_folder(self.folder).id  # the job created it if missing
        rows = iter_sync_rows(self.catalog, folder_id, self.storage.name, self.key_prefix)
        listing = self.storage.list(self.prefix)
        state = self.state
        for info, row in merge(listing, rows, self.storage.canonical_url):
            if info is None:
                assert row is not None
                if self.on_delete == "remove" or (
                    self.on_delete == "mark" and row.removed_at is None
                ):
                    self.gone.add(row.id)
                continue
            state.listed += 1
            if state.listed % PROGRESS_EVERY == 0 and self.progress:
                self.progress(state)
            if row is not None and row.removed_at is None and not _changed(info, row):
                state.unchanged += 1
                continue
            state.to_register += 1
            yield self._item(info, row, state.listed)

    def _item(self, info: ObjectInfo, row: SyncRow | None, number: int) -> ListedItem:
        given = MediaMetadata(file_size=info.size, mime_type=info.content_type)
        return ListedItem(
            row=number,
            url=self.storage.canonical_url(info.key),
            # a changed object keeps what a manifest once gave it
            title=row.title if row else None,
            external_id=row.external_id if row else None,
            client_metadata=row.client_metadata if row else {},
            given=given,
            listed=info,
        )


class PrefixSync:
    """Reconciles catalog folders with prefixes of one storage integration."""

    def __init__(self, catalog: Catalog, storage: Storage) -> None:
        self.catalog = catalog
        self.storage = storage

    def run(
        self,
        folder: str,
        prefix: str = "",
        *,
        key_prefix: str,
        on_delete: OnDelete = "mark",
        options: RegistrationOptions | None = None,
        progress: Callable[[SyncProgress], None] | None = None,
    ) -> SyncResult:
        """List ``prefix`` (relative to the integration's) and reconcile ``folder`` with it.

        ``key_prefix`` is the full key prefix the listing yields (integration prefix +
        ``prefix``): only rows of this integration under it take part.
        """
        if on_delete not in ON_DELETE:
            raise ConfigError(f"on_delete must be keep, mark or remove, not {on_delete!r}")
        validate_folder_name(folder)
        diff = _ListingDiff(
            self.catalog, self.storage, folder, prefix, key_prefix, on_delete, progress
        )
        removed = 0

        def engine_progress(p: Progress) -> None:
            diff.state.registered, diff.state.failed = p.registered, p.failed
            if progress:
                progress(diff.state)

        def finalize(result: JobResult) -> None:
            nonlocal removed
            if on_delete == "mark":
                removed = mark_removed(self.catalog, diff.gone)
            elif on_delete == "remove":
                removed = delete_rows(self.catalog, diff.gone)
            result.total = diff.state.listed
            result.unchanged += diff.state.unchanged
            result.registered += diff.state.unchanged
            result.stats = {**result.stats, "listed": diff.state.listed, "removed": removed}

        engine = RegistrationEngine(self.catalog, self.storage)
        name = f"sync {self.storage.canonical_url(key_prefix)}"
        try:
            job = engine.register(
                diff,
                folder,
                options,
                manifest_name=name,
                progress=engine_progress,
                finalize=finalize,
            )
        finally:
            diff.gone.close()
        done = job.status is JobStatus.DONE
        return SyncResult(
            job=job,
            prefix=key_prefix,
            listed=diff.state.listed,
            added=job.created if done else 0,
            updated=job.updated if done else 0,
            removed=removed,
            unchanged=job.unchanged if done else 0,
            failed=job.failed,
        )


def resolve_target(
    cfg: AnyIntegrationConfig, folder: str | None, prefix: str | None, on_delete: str | None
) -> tuple[str, str, OnDelete]:
    """Folder, prefix and on_delete of a sync: the given ones, else the ``watch:`` block's."""
    watch = cfg.watch
    folder = folder or (watch.folder if watch else None)
    if not folder:
        raise ConfigError(
            f"no folder to sync into: set watch.folder of integration '{cfg.name}' (`sync` also "
            "takes --folder)"
        )
    mode = on_delete or (watch.on_delete if watch else "mark")
    if mode not in ON_DELETE:
        raise ConfigError(f"--on-delete must be keep, mark or remove, not {mode!r}")
    if prefix is None:
        prefix = watch.prefix if watch else ""
    return folder, prefix, cast(OnDelete, mode)


def sync_integration(
    config: AppConfig,
    integration: str | None = None,
    *,
    folder: str | None = None,
    prefix: str | None = None,
    on_delete: str | None = None,
    options: RegistrationOptions | None = None,
    catalog: Catalog | None = None,
    storage: Storage | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
) -> SyncResult:
    """Sync one integration's prefix into a folder (defaults from its ``watch:`` block)."""
    cfg = config.integration(integration or (storage.name if storage else None))
    root = cfg.listing_root()
    if root is None:
        raise ConfigError(f"integration '{cfg.name}' cannot list objects, so it cannot sync")
    base_prefix = root[1]
    target, rel_prefix, mode = resolve_target(cfg, folder, prefix, on_delete)
    validate_folder_name(target)
    storage = storage or build_storage(cfg)
    opts = with_policies(config, cfg, target, options)
    own_catalog = catalog is None
    catalog = catalog or Catalog.for_config(config)
    try:
        return PrefixSync(catalog, storage).run(
            target,
            rel_prefix,
            key_prefix=base_prefix + rel_prefix,
            on_delete=mode,
            options=opts,
            progress=progress,
        )
    finally:
        if own_catalog:
            catalog.dispose()


__all__ = [
    "PrefixSync",
    "SyncOrderError",
    "SyncProgress",
    "SyncResult",
    "merge",
    "resolve_target",
    "sync_integration",
]
