"""Behaviour of the catalog on SQLite and PostgreSQL (each test gets a fresh database)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from orchestration_pkg.core.catalog import (
    Catalog,
    FileRecord,
    UpsertCounts,
    files,
    folders,
    is_signed_url,
    jobs,
    normalize_db_url,
    redact_db_url,
)
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.models import JobResult, JobStatus, MediaKind, UnitError

T0 = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


@pytest.fixture
def folder_id(catalog: Catalog) -> int:
    return catalog.ensure_folder("photos").id


def rec(i: int, **overrides: Any) -> FileRecord:
    """A plausible record for object ``i``."""
    values: dict[str, Any] = {
        "object_url": f"s3://bucket/img/{i:06d}.jpg",
        "key": f"img/{i:06d}.jpg",
        "integration": "s3-main",
        "size": 1000 + i,
        "etag": f"etag-{i}",
        "content_type": "image/jpeg",
        "last_modified": T0,
        "media_kind": "image",
        "width": 640,
        "height": 480,
        "media_metadata": {"mime_type": "image/jpeg", "width": 640, "height": 480},
    }
    values.update(overrides)
    return FileRecord(**values)


def upsert(catalog: Catalog, fid: int, records: list[FileRecord], **kw: Any) -> UpsertCounts:
    with catalog.writer(fid) as writer:
        return writer.upsert(records, **kw)


# ----------------------------------------------------------------------------- folders


def test_ensure_folder_creates_once(catalog: Catalog) -> None:
    first = catalog.ensure_folder("photos", "holiday pictures", {"team": "cv"})
    again = catalog.ensure_folder("photos")
    assert again.id == first.id
    assert again.description == "holiday pictures"
    assert again.client_metadata == {"team": "cv"}
    assert first.created_at.tzinfo is not None
    assert catalog.get_folder("photos").id == first.id


def test_ensure_folder_updates_given_fields(catalog: Catalog) -> None:
    catalog.ensure_folder("photos", "old", {"a": 1})
    updated = catalog.ensure_folder("photos", "new", {"b": 2})
    assert (updated.description, updated.client_metadata) == ("new", {"b": 2})
    stored = catalog.get_folder("photos")
    assert (stored.description, stored.client_metadata) == ("new", {"b": 2})
    catalog.ensure_folder("photos", client_metadata={"c": 3})
    assert catalog.get_folder("photos").description == "new"


def test_folder_names_unique_and_not_empty(catalog: Catalog) -> None:
    catalog.ensure_folder("photos")
    with pytest.raises(sa.exc.IntegrityError), catalog.engine.begin() as conn:
        conn.execute(
            folders.insert().values(name="photos", client_metadata={}, created_at=T0),
        )
    for bad in ("", "   "):
        with pytest.raises(ValueError):
            catalog.ensure_folder(bad)
    assert [f.name for f in catalog.list_folders()] == ["photos"]


def test_unknown_folder(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match="unknown folder 'nope'"):
        catalog.get_folder("nope")
    with pytest.raises(NotFoundError):
        catalog.iter_files("nope")  # raised at once, not on first next()
    with pytest.raises(NotFoundError):
        catalog.count_files("nope")
    with pytest.raises(NotFoundError):
        catalog.list_jobs("nope")


def test_list_folders_counts(catalog: Catalog) -> None:
    a = catalog.ensure_folder("a").id
    catalog.ensure_folder("empty")
    b = catalog.ensure_folder("b").id
    upsert(catalog, a, [rec(i) for i in range(3)])
    upsert(catalog, b, [rec(7), rec(8, size=None)])
    listed = {f.name: (f.file_count, f.total_bytes) for f in catalog.list_folders()}
    assert listed == {"a": (3, 3003), "b": (2, 1007), "empty": (0, 0)}
    assert [f.name for f in catalog.list_folders()] == ["a", "b", "empty"]
    assert catalog.get_folder("a").file_count == 3


def test_deleting_folder_cascades_to_files_and_keeps_jobs(catalog: Catalog, folder_id: int) -> None:
    upsert(catalog, folder_id, [rec(1), rec(2)])
    job_id = catalog.create_job(folder_id, "s3-main", "m.csv", ignore_errors=False)
    with catalog.engine.begin() as conn:
        conn.execute(folders.delete())
    with catalog.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(files)) == 0
        assert conn.execute(sa.select(jobs.c.folder_id, jobs.c.folder_name)).all() == [
            (None, "photos")
        ]
    assert catalog.get_job(job_id).folder == "photos"  # the job history outlives the folder


# ----------------------------------------------------------------------------- upsert


def test_rerun_is_idempotent(catalog: Catalog, folder_id: int) -> None:
    batch = [rec(i) for i in range(50)]
    assert upsert(catalog, folder_id, batch) == UpsertCounts(created=50)
    assert upsert(catalog, folder_id, batch) == UpsertCounts(unchanged=50)
    more = batch + [rec(i) for i in range(50, 60)]
    assert upsert(catalog, folder_id, more) == UpsertCounts(created=10, unchanged=50)
    assert catalog.count_files("photos") == 60


def test_record_round_trip(catalog: Catalog, folder_id: int) -> None:
    local = timezone(timedelta(hours=2))
    original = rec(
        1,
        title="Cat",
        external_id="ext-1",
        media_kind=MediaKind.IMAGE,
        last_modified=T0.astimezone(local),
        client_metadata={"tags": ["a", "b"], "score": 0.5},
    )
    upsert(catalog, folder_id, [original])
    found = catalog.find_file("photos", original.object_url)
    assert found == rec(
        1,
        title="Cat",
        external_id="ext-1",
        client_metadata={"tags": ["a", "b"], "score": 0.5},
    )
    assert found.last_modified == T0 and found.last_modified.tzinfo is not None
    assert found.id is not None and found.created_at == found.updated_at
    # an equal instant in another timezone is not a change
    assert upsert(catalog, folder_id, [original]) == UpsertCounts(unchanged=1)


def test_changed_etag_updates_row(catalog: Catalog, folder_id: int) -> None:
    upsert(catalog, folder_id, [rec(i) for i in range(5)])
    before = catalog.find_file("photos", rec(2).key)
    changed = [rec(i) for i in range(5)]
    changed[2] = rec(2, etag="etag-new", size=5)
    assert upsert(catalog, folder_id, changed) == UpsertCounts(updated=1, unchanged=4)
    after = catalog.find_file("photos", rec(2).key)
    assert (after.etag, after.size, after.id) == ("etag-new", 5, before.id)
    assert after.created_at == before.created_at
    assert after.updated_at > before.updated_at


def test_client_metadata_updates_only_when_asked(catalog: Catalog, folder_id: int) -> None:
    upsert(catalog, folder_id, [rec(1, client_metadata={"v": 1})])
    new_meta = [rec(1, client_metadata={"v": 2})]
    counts = upsert(catalog, folder_id, new_meta, update_client_metadata=False)
    assert counts == UpsertCounts(unchanged=1)
    assert catalog.find_file("photos", rec(1).key).client_metadata == {"v": 1}
    assert upsert(catalog, folder_id, new_meta) == UpsertCounts(updated=1)
    assert catalog.find_file("photos", rec(1).key).client_metadata == {"v": 2}


def test_skip_existing(catalog: Catalog, folder_id: int) -> None:
    upsert(catalog, folder_id, [rec(1), rec(2)])
    batch = [rec(1, etag="changed"), rec(2), rec(3)]
    counts = upsert(catalog, folder_id, batch, skip_existing=True, update_client_metadata=False)
    assert counts == UpsertCounts(created=1, skipped=2)
    assert catalog.find_file("photos", rec(1).key).etag == "etag-1"


def test_skip_existing_with_metadata_upsert(catalog: Catalog, folder_id: int) -> None:
    upsert(catalog, folder_id, [rec(1, client_metadata={"v": 1}), rec(2)])
    batch = [rec(1, etag="changed", client_metadata={"v": 2}), rec(2, etag="changed")]
    counts = upsert(catalog, folder_id, batch, skip_existing=True, update_client_metadata=True)
    assert counts == UpsertCounts(updated=1, skipped=1)
    first = catalog.find_file("photos", rec(1).key)
    assert (first.client_metadata, first.etag) == ({"v": 2}, "etag-1")
    assert catalog.find_file("photos", rec(2).key).etag == "etag-2"


def test_duplicate_url_in_batch_last_wins(catalog: Catalog, folder_id: int) -> None:
    batch = [rec(1, etag="first"), rec(2), rec(1, etag="last")]
    assert upsert(catalog, folder_id, batch) == UpsertCounts(created=2)
    assert catalog.find_file("photos", rec(1).key).etag == "last"
    again = [rec(1, etag="x"), rec(1, etag="last")]
    assert upsert(catalog, folder_id, again) == UpsertCounts(unchanged=1)


def test_same_url_in_two_folders(catalog: Catalog, folder_id: int) -> None:
    other = catalog.ensure_folder("other").id
    assert upsert(catalog, folder_id, [rec(1)]) == UpsertCounts(created=1)
    assert upsert(catalog, other, [rec(1)]) == UpsertCounts(created=1)


@pytest.mark.parametrize(
    "query",
    [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=deadbeef",
        "X-Goog-Signature=deadbeef",
        "sv=2022&sig=deadbeef",
        "Expires=1&Signature=deadbeef",
        "x-amz-signature=deadbeef",
    ],
)
def test_refuses_signed_urls(catalog: Catalog, folder_id: int, query: str) -> None:
    signed = rec(9, object_url=f"https://bucket.example.com/img/9.jpg?{query}")
    with catalog.writer(folder_id) as writer, pytest.raises(ValueError) as info:
        writer.upsert([rec(1), signed])
    assert "deadbeef" not in str(info.value)
    assert catalog.count_files("photos") == 0


def test_unsigned_query_is_fine(catalog: Catalog, folder_id: int) -> None:
    plain = rec(1, object_url="https://host/img/1.jpg?versionId=3")
    assert upsert(catalog, folder_id, [plain]) == UpsertCounts(created=1)


# ----------------------------------------------------------------------------- transactions


def test_rollback_leaves_nothing(catalog: Catalog, folder_id: int) -> None:
    with catalog.writer(folder_id) as writer:
        writer.upsert([rec(i) for i in range(10)])
        writer.rollback()
    assert catalog.count_files("photos") == 0


def test_commit_persists_then_rollback_undoes_the_rest(catalog: Catalog, folder_id: int) -> None:
    with catalog.writer(folder_id) as writer:
        writer.upsert([rec(1)])
        writer.commit()
        writer.upsert([rec(2), rec(1, etag="changed")])
        writer.rollback()
        assert writer.upsert([rec(3)]) == UpsertCounts(created=1)
    assert [f.key for f in catalog.iter_files("photos")] == [rec(1).key, rec(3).key]
    assert catalog.find_file("photos", rec(1).key).etag == "etag-1"


def test_writer_exception_rolls_back(catalog: Catalog, folder_id: int) -> None:
    with pytest.raises(RuntimeError, match="boom"), catalog.writer(folder_id) as writer:
        writer.upsert([rec(1)])
        writer.commit()
        writer.upsert([rec(2)])
        raise RuntimeError("boom")
    assert catalog.count_files("photos") == 1
    with pytest.raises(RuntimeError, match="closed"):
        writer.upsert([rec(3)])


def test_uncommitted_rows_invisible_to_readers(catalog: Catalog, folder_id: int) -> None:
    with catalog.writer(folder_id) as writer:
        writer.upsert([rec(1)])
        assert catalog.count_files("photos") == 0
    assert catalog.count_files("photos") == 1


# ----------------------------------------------------------------------------- concurrency


def test_overlapping_writers_same_url(catalog: Catalog, folder_id: int) -> None:
    with catalog.writer(folder_id) as first, catalog.writer(folder_id) as second:
        assert first.upsert([rec(1)]) == UpsertCounts(created=1)
        first.commit()
        assert second.upsert([rec(1)]) == UpsertCounts(unchanged=1)
    assert catalog.count_files("photos") == 1


def test_insert_race_is_absorbed(catalog: Catalog, folder_id: int) -> None:
    """Another writer commits the same URL between our SELECT and our INSERT."""
    fired: list[bool] = []

    def interleave(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and statement.lstrip().upper().startswith("INSERT INTO OP_FILES"):
            fired.append(True)
            with catalog.writer(folder_id) as other:
                assert other.upsert([rec(1, etag="theirs")]) == UpsertCounts(created=1)

    sa.event.listen(catalog.engine, "before_cursor_execute", interleave)
    try:
        counts = upsert(catalog, folder_id, [rec(1, etag="ours"), rec(2)])
    finally:
        sa.event.remove(catalog.engine, "before_cursor_execute", interleave)
    assert fired
    assert counts == UpsertCounts(created=1, updated=1)
    assert catalog.find_file("photos", rec(1).key).etag == "ours"
    assert catalog.count_files("photos") == 2


def test_concurrent_writers_in_threads(catalog: Catalog, folder_id: int) -> None:
    first = catalog.writer(folder_id)
    first.upsert([rec(1)])  # uncommitted: the second writer has to wait for it
    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            with catalog.writer(folder_id) as writer:
                outcome["counts"] = writer.upsert([rec(1)])
        except Exception as exc:  # pragma: no cover - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["counts"] == UpsertCounts(unchanged=1)
    assert catalog.count_files("photos") == 1


# ----------------------------------------------------------------------------- bulk


def test_bulk_upsert_uses_few_statements(catalog: Catalog, folder_id: int) -> None:
    total, size = 20_000, 1_000
    batches = total // size
    records = [rec(i) for i in range(total)]
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def run(recs: list[FileRecord]) -> UpsertCounts:
        statements.clear()
        counts = UpsertCounts()
        with catalog.writer(folder_id) as writer:
            for start in range(0, total, size):
                counts += writer.upsert(recs[start : start + size])
        return counts

    sa.event.listen(catalog.engine, "before_cursor_execute", count)
    try:
        # per batch: one SELECT of existing rows + one bulk INSERT
        assert run(records) == UpsertCounts(created=total)
        assert len(statements) <= 2 * batches + 2, len(statements)
        # re-run: only the SELECTs
        assert run(records) == UpsertCounts(unchanged=total)
        assert len(statements) <= batches + 2, len(statements)
        # one changed record per 100: SELECT + one executemany UPDATE per batch
        changed = [rec(i, etag="v2") if i % 100 == 0 else r for i, r in enumerate(records)]
        assert run(changed) == UpsertCounts(updated=total // 100, unchanged=total - total // 100)
        assert len(statements) <= 2 * batches + 2, len(statements)
    finally:
        sa.event.remove(catalog.engine, "before_cursor_execute", count)
    assert catalog.count_files("photos") == total
    assert catalog.get_folder("photos").total_bytes == sum(1000 + i for i in range(total))


def test_one_large_batch(catalog: Catalog, folder_id: int) -> None:
    """More URLs in one call than one IN list / one multi-row INSERT page may hold."""
    records = [rec(i) for i in range(12_000)]
    assert upsert(catalog, folder_id, records) == UpsertCounts(created=12_000)
    assert upsert(catalog, folder_id, records) == UpsertCounts(unchanged=12_000)


# ----------------------------------------------------------------------------- reads


def test_iter_files_order_limit_offset(catalog: Catalog, folder_id: int) -> None:
    order = [5, 3, 9, 1, 7, 2]
    upsert(catalog, folder_id, [rec(i) for i in order])
    keys = [f.key for f in catalog.iter_files("photos")]
    assert keys == [rec(i).key for i in sorted(order)]
    page = [f.key for f in catalog.iter_files("photos", limit=2, offset=3)]
    assert page == [rec(5).key, rec(7).key]
    assert [f.key for f in catalog.iter_files("photos", offset=5)] == [rec(9).key]
    assert catalog.count_files("photos") == 6


def test_find_file_by_key_or_url(catalog: Catalog, folder_id: int) -> None:
    upsert(catalog, folder_id, [rec(1), rec(2)])
    assert catalog.find_file("photos", rec(2).key).object_url == rec(2).object_url
    assert catalog.find_file("photos", rec(2).object_url).key == rec(2).key
    with pytest.raises(NotFoundError, match="no file"):
        catalog.find_file("photos", "img/missing.jpg")


# ----------------------------------------------------------------------------- jobs


def test_job_lifecycle_done(catalog: Catalog, folder_id: int) -> None:
    job_id = catalog.create_job(
        folder_id, "s3-main", "manifests/batch.csv", ignore_errors=True, options={"probe": True}
    )
    pending = catalog.get_job(job_id)
    assert (pending.status, pending.folder, pending.integration) == (
        JobStatus.PENDING,
        "photos",
        "s3-main",
    )
    assert pending.finished_at is None and pending.created_at is not None
    errors = [
        UnitError(url="s3://bucket/c.jpg", error="AccessDenied", row=7),
        UnitError(url="s3://bucket/x.jpg", error="no row"),
        UnitError(url="s3://bucket/a.jpg", error="NotFound", row=2),
    ]
    result = pending.model_copy(
        update={
            "status": JobStatus.DONE,
            "total": 10,
            "registered": 7,
            "created": 5,
            "updated": 1,
            "unchanged": 1,
            "failed": 3,
            "bytes_read": 2**40,
            "requests": 12,
            "by_kind": {"image": 7},
            "unit_errors": errors,
            "finished_at": T0,
        }
    )
    catalog.finish_job(result)
    done = catalog.get_job(job_id)
    assert done.status is JobStatus.DONE
    assert (done.total, done.registered, done.failed, done.bytes_read) == (10, 7, 3, 2**40)
    assert done.by_kind == {"image": 7} and done.finished_at == T0
    assert [(e.row, e.url) for e in done.unit_errors] == [
        (2, "s3://bucket/a.jpg"),
        (7, "s3://bucket/c.jpg"),
        (None, "s3://bucket/x.jpg"),
    ]
    catalog.finish_job(result)  # finishing again does not duplicate unit errors
    assert len(catalog.get_job(job_id).unit_errors) == 3


def test_job_failed_and_listing(catalog: Catalog, folder_id: int) -> None:
    other = catalog.ensure_folder("other").id
    first = catalog.create_job(folder_id, "s3-main", "a.csv", ignore_errors=False)
    second = catalog.create_job(other, "s3-main", "b.csv", ignore_errors=False)
    third = catalog.create_job(folder_id, "s3-main", "c.csv", ignore_errors=False)
    failed = JobResult(
        job_id=first,
        folder="photos",
        integration="s3-main",
        status=JobStatus.FAILED,
        error="manifest unreadable",
        unit_errors=[UnitError(url="s3://bucket/a.jpg", error="bad", row=1)],
    )
    catalog.finish_job(failed)
    got = catalog.get_job(first)
    assert (got.status, got.error, len(got.unit_errors)) == (JobStatus.FAILED, failed.error, 1)
    assert [j.job_id for j in catalog.list_jobs()] == [third, second, first]
    assert [j.job_id for j in catalog.list_jobs("photos")] == [third, first]
    assert [j.job_id for j in catalog.list_jobs(limit=1)] == [third]
    assert all(j.unit_errors == [] for j in catalog.list_jobs())
    with pytest.raises(NotFoundError, match="unknown job 'nope'"):
        catalog.get_job("nope")
    with pytest.raises(NotFoundError):
        catalog.finish_job(failed.model_copy(update={"job_id": "nope"}))


def test_jobs_never_store_signatures(catalog: Catalog, folder_id: int) -> None:
    signed = "https://bucket.s3.amazonaws.com/m.csv?X-Amz-Credential=AKIA&X-Amz-Signature=dead"
    job_id = catalog.create_job(folder_id, "s3-main", signed, ignore_errors=False)
    catalog.finish_job(
        JobResult(
            job_id=job_id,
            folder="photos",
            integration="s3-main",
            status=JobStatus.FAILED,
            error=f"could not read {signed}",
            unit_errors=[UnitError(url=signed, error=f"403 for {signed}")],
        )
    )
    with catalog.engine.connect() as conn:
        manifest = conn.scalar(sa.select(jobs.c.manifest))
    job = catalog.get_job(job_id)
    stored = [manifest, job.error, job.unit_errors[0].url, job.unit_errors[0].error]
    assert manifest == "https://bucket.s3.amazonaws.com/m.csv"
    assert not any("dead" in text or "AKIA" in text for text in stored), stored


# ----------------------------------------------------------------------------- URLs


def test_is_signed_url() -> None:
    assert is_signed_url("https://b.s3.amazonaws.com/k?X-Amz-Credential=A&X-Amz-Signature=f")
    assert is_signed_url("https://acct.blob.core.windows.net/c/k?sv=2022&sp=r&sig=abc")
    assert is_signed_url("https://storage.googleapis.com/b/k?X-Goog-Signature=abc")
    assert is_signed_url("https://b.s3.amazonaws.com/k?AWSAccessKeyId=A&Signature=abc")
    assert not is_signed_url("s3://bucket/a/b.jpg")
    assert not is_signed_url("https://host/a.jpg?versionId=3&design=1")


def test_db_url_helpers() -> None:
    assert redact_db_url("postgresql://u:s3cret@db:5432/c") == "postgresql://u:***@db:5432/c"
    assert redact_db_url("sqlite:///catalog.db") == "sqlite:///catalog.db"
    assert normalize_db_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_db_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_db_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    with pytest.raises(ValueError, match="unsupported"):
        Catalog("mysql://u@127.0.0.1/d")


def test_plain_postgres_scheme_accepted(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgres://")
    cat = Catalog(plain)
    try:
        assert cat.dialect == "postgresql"
        assert cat.display_url.startswith("postgresql+psycopg://")
        cat.ensure_folder("scheme-check")
    finally:
        cat.dispose()


# ----------------------------------------------------------------------------- failed jobs


def _finish(catalog: Catalog, job_id: str, status: JobStatus, registered: int = 0) -> JobResult:
    error = "boom" if status is JobStatus.FAILED else None
    result = catalog.get_job(job_id).model_copy(
        update={"status": status, "failed": 1, "error": error, "registered": registered}
    )
    result.unit_errors = [UnitError(url="s3://bucket/bad.jpg", error="NotFound", row=1)]
    catalog.finish_job(result)
    return catalog.get_job(job_id)


def test_failed_job_removes_the_folder_it_created(catalog: Catalog) -> None:
    folder, job_id = catalog.start_job(
        "fresh", "s3-main", "m.csv", ignore_errors=False, description="d"
    )
    assert catalog.get_folder("fresh") == folder and folder.description == "d"
    stored = _finish(catalog, job_id, JobStatus.FAILED)
    assert catalog.list_folders() == []
    assert (stored.folder, stored.status, stored.error) == ("fresh", JobStatus.FAILED, "boom")
    assert [e.url for e in stored.unit_errors] == ["s3://bucket/bad.jpg"]
    assert [j.job_id for j in catalog.list_jobs("fresh")] == [job_id]
    with pytest.raises(NotFoundError):
        catalog.count_files("fresh")


def test_done_job_keeps_the_folder_it_created(catalog: Catalog) -> None:
    _, job_id = catalog.start_job("fresh", "s3-main", "m.csv", ignore_errors=True)
    _finish(catalog, job_id, JobStatus.DONE, registered=1)
    assert [f.name for f in catalog.list_folders()] == ["fresh"]


def test_done_job_that_registered_nothing_removes_the_folder_it_created(catalog: Catalog) -> None:
    _, job_id = catalog.start_job("fresh", "s3-main", "m.csv", ignore_errors=True)
    job = _finish(catalog, job_id, JobStatus.DONE)  # every row failed under ignore_errors
    assert catalog.list_folders() == [] and job.folder == "fresh"


def test_failed_job_leaves_an_existing_folder_untouched(catalog: Catalog, folder_id: int) -> None:
    before = catalog.ensure_folder("photos", "kept", {"v": 1})
    folder, job_id = catalog.start_job(
        "photos", "s3-main", "m.csv", ignore_errors=False, description="new", client_metadata={}
    )
    assert folder == before  # start_job does not modify an existing folder
    _finish(catalog, job_id, JobStatus.FAILED)
    assert catalog.get_folder("photos") == before


def test_failed_job_keeps_a_created_folder_that_others_use(catalog: Catalog) -> None:
    folder, first = catalog.start_job("fresh", "s3-main", "a.csv", ignore_errors=False)
    _, second = catalog.start_job("fresh", "s3-main", "b.csv", ignore_errors=False)
    _finish(catalog, first, JobStatus.FAILED)  # another job runs in it
    assert catalog.get_folder("fresh").id == folder.id
    folder, third = catalog.start_job("other", "s3-main", "c.csv", ignore_errors=True)
    upsert(catalog, folder.id, [rec(1)])  # committed batch of an ignore_errors job
    _finish(catalog, third, JobStatus.FAILED)
    assert catalog.get_folder("other").file_count == 1
    assert catalog.get_job(second).folder == "fresh"
