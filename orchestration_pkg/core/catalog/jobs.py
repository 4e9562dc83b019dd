"""Upload jobs in the catalog: start, finish (with unit errors), read back.

A job that creates its folder and then fails removes that folder again, so a failed strict job
leaves no empty folder behind; the job row stays (``folder_id`` NULL, ``folder_name`` kept).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from orchestration_pkg.core.catalog.records import (
    Folder,
    _chunks,
    _job_result,
    _json_dict,
    _redact_text,
    _unsigned,
)
from orchestration_pkg.core.catalog.schema import (
    _JOB_COUNTS,
    _now,
    files,
    folders,
    jobs,
    staged_files,
    unit_errors,
)
from orchestration_pkg.core.catalog.txn import JobGoneError, run_write
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import JobResult, JobStatus, UnitError

_UNIT_ERROR_CHUNK = 5_000
_MAX_ITEM_CHARS = 64 * 1024
_UNIT_COLUMNS = (
    unit_errors.c.row,
    unit_errors.c.url,
    unit_errors.c.error,
    unit_errors.c.code,
    unit_errors.c.transient,
)


def _unit_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored copy of a unit's row: unsigned URL, at most 64 KiB, else nothing."""
    if not item:
        return None
    data = _json_dict(item)
    if data.get("url"):
        data["url"] = _unsigned(data["url"])
    return data if len(json.dumps(data, separators=(",", ":"))) <= _MAX_ITEM_CHARS else None


def _unit_error(r: Any, item: dict[str, Any] | None = None) -> UnitError:
    return UnitError(
        row=r.row,
        url=r.url,
        error=r.error,
        code=r.code or "unknown",
        transient=bool(r.transient),
        item=dict(item) if item else None,
    )


_START_ATTEMPTS = 3


class JobsMixin:
    """The job half of :class:`~orchestration_pkg.core.catalog.Catalog`."""

    if TYPE_CHECKING:
        engine: Engine
        busy_timeout_s: float

        def _load_folder(self, conn: Connection, name: str) -> Folder | None: ...
        def _dialect_insert(self, table: sa.Table) -> Any: ...

    def _job_values(
        self, folder_id: int, folder_name: str, integration: str, manifest: str, **extra: Any
    ) -> dict[str, Any]:
        now = _now()
        return {
            "id": uuid.uuid4().hex,
            "folder_id": folder_id,
            "folder_name": folder_name,
            "integration": integration,
            "manifest": _unsigned(manifest),
            "status": JobStatus.PENDING.value,
            "by_kind": {},
            "stats": {},
            "created_at": now,
            "heartbeat_at": now,  # alive from the start: the sweep judges PENDING jobs too
            **dict.fromkeys(_JOB_COUNTS, 0),
            **extra,
        }

    def create_job(
        self,
        folder_id: int,
        integration: str,
        manifest: str,
        *,
        ignore_errors: bool,
        options: dict[str, Any] | None = None,
    ) -> str:
        """Record a PENDING job in an existing folder (committed at once); returns its id."""

        def run(conn: Connection) -> str:
            name = conn.scalar(sa.select(folders.c.name).where(folders.c.id == folder_id))
            if name is None:
                raise NotFoundError(f"unknown folder id {folder_id}")
            values = self._job_values(
                folder_id,
                name,
                integration,
                manifest,
                ignore_errors=bool(ignore_errors),
                options=_json_dict(options),
                created_folder=False,
            )
            conn.execute(jobs.insert().values(values))
            return str(values["id"])

        return run_write(self, run, what="record a job")  # type: ignore[arg-type]

    def start_job(
        self,
        folder: str,
        integration: str,
        manifest: str,
        *,
        ignore_errors: bool,
        options: dict[str, Any] | None = None,
        description: str | None = None,
        client_metadata: dict[str, Any] | None = None,
        retry_of: str | None = None,
        owner: str | None = None,
        run_id: str | None = None,
    ) -> tuple[Folder, str]:
        """Record a PENDING job into ``folder``, creating the folder (with ``description`` and
        ``client_metadata``) if missing; an existing folder is not modified. One short
        transaction; if the job fails, :meth:`finish_job` removes a folder it created.
        ``owner`` (host:pid) and ``run_id`` (Dagster) say who runs it."""
        if not folder or not folder.strip():
            raise ValueError("a folder name must not be empty")
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                return self._start_job(
                    folder,
                    integration,
                    manifest,
                    ignore_errors=bool(ignore_errors),
                    options=_json_dict(options),
                    description=description,
                    client_metadata=_json_dict(client_metadata),
                    retry_of=retry_of,
                    owner=owner,
                    run_id=run_id,
                )
            except IntegrityError:  # the folder was removed by a failing job meanwhile
                if attempt == _START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_job(
        self,
        folder: str,
        integration: str,
        manifest: str,
        *,
        description: str | None,
        client_metadata: dict[str, Any],
        **job: Any,
    ) -> tuple[Folder, str]:
        values = {
            "name": folder,
            "description": description,
            "client_metadata": client_metadata,
            "created_at": _now(),
        }
        insert = self._dialect_insert(folders).values(**values)
        insert = insert.on_conflict_do_nothing(index_elements=[folders.c.name])

        def run(conn: Connection) -> tuple[Folder, str]:
            # INSERT first: on SQLite this takes the write lock before anything is read
            created = conn.scalar(insert.returning(folders.c.id)) is not None
            target = self._load_folder(conn, folder)
            assert target is not None
            row = self._job_values(
                target.id, folder, integration, manifest, created_folder=created, **job
            )
            conn.execute(jobs.insert().values(row))
            return target, str(row["id"])

        return run_write(self, run, what="record a job")  # type: ignore[arg-type]

    def finish_job(self, result: JobResult, *, budget: float | None = None) -> None:
        """Store the outcome of a job and all its unit errors in one transaction.

        A job that created its folder and then FAILED, or registered nothing while rows failed
        (``ignore_errors``), removes it when nothing else uses it (no files, no other job): a
        failed registration leaves no empty folder behind. Rows it staged and did not publish
        are deleted. A job a sweep marked ABANDONED keeps that record: ``JobGoneError``.
        ``budget``: how long to wait for a busy catalog (default ``busy_timeout_s``).
        """
        values = {
            "status": result.status.value,
            **{name: int(getattr(result, name)) for name in _JOB_COUNTS},
            "by_kind": _json_dict(result.by_kind),
            "stats": _json_dict(result.stats),
            "error": _redact_text(result.error),
            "finished_at": result.finished_at or _now(),
        }
        errors = [
            {
                "job_id": result.job_id,
                "row": err.row,
                "url": _unsigned(err.url),
                "error": _redact_text(err.error) or "",
                "level": level,
                "code": err.code,
                "transient": err.transient,
                "item": _unit_item(err.item) if level == "error" else None,
            }
            for level, items in (("error", result.unit_errors), ("warning", result.warnings))
            for err in items
        ]

        def run(conn: Connection) -> None:
            stmt = (
                jobs.update()
                .where(jobs.c.id == result.job_id, jobs.c.status != JobStatus.ABANDONED.value)
                .values(values)
            )
            done = conn.execute(stmt.returning(jobs.c.folder_id, jobs.c.created_folder)).first()
            if done is None:
                if conn.scalar(sa.select(jobs.c.id).where(jobs.c.id == result.job_id)):
                    raise JobGoneError(
                        f"job {result.job_id} was marked ABANDONED by a sweep while it ran "
                        "(no heartbeat for longer than jobs.stale_after_s)"
                    )
                raise NotFoundError(f"unknown job '{result.job_id}'")
            conn.execute(staged_files.delete().where(staged_files.c.job_id == result.job_id))
            conn.execute(unit_errors.delete().where(unit_errors.c.job_id == result.job_id))
            for chunk in _chunks(errors, _UNIT_ERROR_CHUNK):
                conn.execute(unit_errors.insert(), list(chunk))
            nothing = result.registered == 0 and result.failed > 0
            failed = result.status is not JobStatus.DONE or nothing
            if failed and done.created_folder and done.folder_id:
                self._drop_unused_folder(conn, done.folder_id, result.job_id)

        run_write(self, run, budget=budget, what="record the job's outcome")  # type: ignore[arg-type]

    def _drop_unused_folder(self, conn: Connection, folder_id: int, job_id: str) -> None:
        """Delete folder ``folder_id`` unless it holds files or another job's rows."""
        # Row lock first (PostgreSQL), so a job starting into this folder either commits
        # before the checks below (and keeps the folder) or waits and then retries.
        lock = sa.select(folders.c.id).where(folders.c.id == folder_id).with_for_update()
        if conn.scalar(lock) is None:
            return
        has_files = sa.exists().where(files.c.folder_id == folder_id)
        other_jobs = sa.exists().where(jobs.c.folder_id == folder_id, jobs.c.id != job_id)
        conn.execute(folders.delete().where(folders.c.id == folder_id, ~has_files, ~other_jobs))

    def _job_query(self) -> sa.Select[Any]:
        name = sa.func.coalesce(folders.c.name, jobs.c.folder_name).label("folder")
        return sa.select(jobs, name).outerjoin(folders, folders.c.id == jobs.c.folder_id)

    def get_job(self, job_id: str) -> JobResult:
        """A job with its unit errors (by row); ``NotFoundError`` if unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(self._job_query().where(jobs.c.id == job_id)).first()
            if row is None:
                raise NotFoundError(f"unknown job '{job_id}'")
            stmt = (
                sa.select(*_UNIT_COLUMNS, unit_errors.c.level)
                .where(unit_errors.c.job_id == job_id)
                .order_by(unit_errors.c.row.is_(None), unit_errors.c.row, unit_errors.c.id)
            )
            found: dict[str, list[UnitError]] = {"error": [], "warning": []}
            for r in conn.execute(stmt):
                found[r.level].append(_unit_error(r))
        return _job_result(row, found["error"], found["warning"])

    def job_counts(self, job_id: str) -> dict[str, int]:
        """The counts stored on job ``job_id`` (kept current by every committed batch)."""
        stmt = sa.select(*(jobs.c[name] for name in _JOB_COUNTS)).where(jobs.c.id == job_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"unknown job '{job_id}'")
        return {name: int(value or 0) for name, value in row._mapping.items()}

    def job_options(self, job_id: str) -> dict[str, Any]:
        """The options job ``job_id`` ran with (fetch, concurrency, verify, ignore_errors); {}
        if unknown."""
        stmt = sa.select(jobs.c.options, jobs.c.ignore_errors).where(jobs.c.id == job_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return {}
        return {**dict(row.options or {}), "ignore_errors": bool(row.ignore_errors)}

    def failed_units(self, job_id: str) -> list[UnitError]:
        """The unit errors of job ``job_id`` with the copies of their rows (``item``), by row;
        ``NotFoundError`` if the job is unknown."""
        stmt = (
            sa.select(*_UNIT_COLUMNS, unit_errors.c.item)
            .where(unit_errors.c.job_id == job_id, unit_errors.c.level == "error")
            .order_by(unit_errors.c.row.is_(None), unit_errors.c.row, unit_errors.c.id)
        )
        with self.engine.connect() as conn:
            if conn.scalar(sa.select(jobs.c.id).where(jobs.c.id == job_id)) is None:
                raise NotFoundError(f"unknown job '{job_id}'")
            return [_unit_error(r, item=r.item) for r in conn.execute(stmt)]

    def list_jobs(
        self, folder: str | None = None, limit: int = 50, status: str | None = None
    ) -> list[JobResult]:
        """Most recent jobs first (optionally of one status), without unit errors. With
        ``folder``: the jobs of that folder and those of a removed folder of that name;
        ``NotFoundError`` if there are neither."""
        stmt = self._job_query().order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
        if status is not None:
            stmt = stmt.where(jobs.c.status == status)
        with self.engine.connect() as conn:
            if folder is not None:
                folder_id = conn.scalar(sa.select(folders.c.id).where(folders.c.name == folder))
                removed = sa.and_(jobs.c.folder_id.is_(None), jobs.c.folder_name == folder)
                if folder_id is not None:
                    stmt = stmt.where(sa.or_(jobs.c.folder_id == folder_id, removed))
                else:
                    stmt = stmt.where(removed)
            rows = conn.execute(stmt).all()
        if folder is not None and not rows and folder_id is None:
            raise NotFoundError(f"unknown folder '{folder}'")
        return [_job_result(row) for row in rows]
