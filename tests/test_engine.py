"""Registration engine against a real S3-protocol server (moto) and real catalogs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.s3.storage import S3Storage
from orchestration_pkg.core.urls import encode_key_for_url
from tests.media import image_bytes

KEYS = {
    "raw/plain.png": (64, 48, "PNG", None),
    "raw/with space.jpg": (120, 80, "JPEG", None),
    "raw/café/été.webp": (33, 17, "WEBP", None),
    "raw/rotated.jpg": (40, 30, "JPEG", 6),
}


@pytest.fixture
def bucket(s3_bucket):
    for key, (w, h, fmt, orient) in KEYS.items():
        s3_bucket.put(key, image_bytes(w, h, fmt, orient), content_type=f"image/{fmt.lower()}")
    return s3_bucket


@pytest.fixture
def storage(bucket, s3_config_factory) -> S3Storage:
    return S3Storage(s3_config_factory(prefix="raw/"))


def _manifest(tmp_path: Path, bucket, extra: list[dict] | None = None, **flags) -> Path:
    images = []
    for i, key in enumerate(KEYS):
        url = (
            f"s3://{bucket.name}/{key}"
            if i % 2
            else f"{bucket.endpoint}/{bucket.name}/{encode_key_for_url(key)}"
        )
        images.append({"objectUrl": url, "title": key, "clientMetadata": {"i": i}})
    images += extra or []
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"images": images, **flags}), encoding="utf-8")
    return path


def _register(catalog, storage, path, **opts):
    engine = RegistrationEngine(catalog, storage)
    return engine.register(
        read_manifest(path), "photos", RegistrationOptions(**opts), manifest_name=str(path)
    )


def test_registers_and_probes_images_from_headers(tmp_path, bucket, storage, catalog):
    result = _register(catalog, storage, _manifest(tmp_path, bucket))
    assert result.status is JobStatus.DONE
    assert (result.registered, result.created, result.failed) == (4, 4, 0)
    files = {f.key: f for f in catalog.iter_files("photos")}
    assert set(files) == set(KEYS)
    for key, (w, h, fmt, orient) in KEYS.items():
        rec = files[key]
        assert (rec.width, rec.height) == (w, h)
        assert rec.media_kind == "image"
        assert rec.object_url == f"s3://{bucket.name}/{key}"
        assert rec.media_metadata["format"] == fmt.lower()
        assert rec.media_metadata.get("orientation") == orient
        assert rec.size and rec.etag
    assert files["raw/plain.png"].client_metadata == {"i": 0}
    # one ranged GET per small image, no HEAD; never more than the object size
    assert result.requests == 4
    assert result.bytes_read <= sum(len(image_bytes(*v)) for v in KEYS.values())


def test_rerun_is_idempotent_and_picks_up_changes(tmp_path, bucket, storage, catalog):
    path = _manifest(tmp_path, bucket)
    _register(catalog, storage, path)
    again = _register(catalog, storage, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert catalog.count_files("photos") == 4
    bucket.put("raw/plain.png", image_bytes(200, 100, "PNG"), content_type="image/png")
    third = _register(catalog, storage, path)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 3)
    rec = catalog.find_file("photos", "raw/plain.png")
    assert (rec.width, rec.height) == (200, 100)


def _bad_rows(bucket) -> list[dict]:
    return [
        {"objectUrl": f"s3://{bucket.name}/raw/missing.jpg"},
        {"title": "no url"},
        {"objectUrl": "s3://other-bucket/raw/x.jpg"},
        {"objectUrl": f"s3://{bucket.name}/outside/prefix.jpg"},
        {"objectUrl": f"{bucket.endpoint}/{bucket.name}/raw/with space.jpg"},
    ]


def test_ignore_errors_registers_good_and_lists_bad(tmp_path, bucket, storage, catalog):
    result = _register(
        catalog, storage, _manifest(tmp_path, bucket, _bad_rows(bucket)), ignore_errors=True
    )
    assert result.status is JobStatus.DONE
    assert (result.registered, result.failed, result.total) == (4, 5, 9)
    errors = {e.row: e for e in result.unit_errors}
    assert set(errors) == {5, 6, 7, 8, 9}
    assert "NotFound" in errors[5].error
    assert "objectUrl" in errors[6].error
    assert "other-bucket" in errors[7].error
    assert "prefix" in errors[8].error
    assert "%20" in errors[9].error
    stored = catalog.get_job(result.job_id)
    assert stored.status is JobStatus.DONE and stored.failed == 5
    assert [e.row for e in stored.unit_errors] == [5, 6, 7, 8, 9]
    assert catalog.count_files("photos") == 4


def test_without_ignore_errors_one_bad_file_commits_nothing(tmp_path, bucket, storage, catalog):
    missing = [{"objectUrl": f"s3://{bucket.name}/raw/missing.jpg"}]
    result = _register(catalog, storage, _manifest(tmp_path, bucket, missing))
    assert result.status is JobStatus.FAILED
    assert result.registered == 0 and result.failed == 1
    assert catalog.list_folders() == []  # not even the folder the job had created
    assert catalog.get_job(result.job_id).status is JobStatus.FAILED


def test_failed_strict_job_leaves_no_new_folder(tmp_path, bucket, storage, catalog):
    missing = [{"objectUrl": f"s3://{bucket.name}/raw/missing.jpg"}]
    path = _manifest(tmp_path, bucket, missing)
    engine = RegistrationEngine(catalog, storage)
    opts = RegistrationOptions(folder_description="new", folder_metadata={"team": "cv"})
    result = engine.register(read_manifest(path), "fresh", opts, manifest_name=str(path))
    assert result.status is JobStatus.FAILED and result.folder == "fresh"
    assert catalog.list_folders() == []
    with pytest.raises(NotFoundError):
        catalog.get_folder("fresh")
    stored = catalog.get_job(result.job_id)  # the job and its unit errors stay readable
    assert (stored.status, stored.folder, stored.failed) == (JobStatus.FAILED, "fresh", 1)
    assert "NotFound" in stored.unit_errors[0].error
    assert [j.job_id for j in catalog.list_jobs("fresh")] == [result.job_id]
    # the same manifest without the bad row then creates the folder as usual
    done = engine.register(read_manifest(_manifest(tmp_path, bucket)), "fresh", opts)
    assert done.status is JobStatus.DONE
    folder = catalog.get_folder("fresh")
    assert (folder.file_count, folder.description, folder.client_metadata) == (
        4,
        "new",
        {"team": "cv"},
    )
    assert {j.job_id for j in catalog.list_jobs("fresh")} == {result.job_id, done.job_id}


def test_failed_strict_job_leaves_an_existing_folder_as_it_was(tmp_path, bucket, storage, catalog):
    before = catalog.ensure_folder("photos", "kept", {"v": 1})
    missing = [{"objectUrl": f"s3://{bucket.name}/raw/missing.jpg"}]
    opts = {"folder_description": "changed", "folder_metadata": {"v": 2}}
    result = _register(catalog, storage, _manifest(tmp_path, bucket, missing), **opts)
    assert result.status is JobStatus.FAILED
    assert catalog.get_folder("photos") == before  # same id, description, metadata, no files
    done = _register(catalog, storage, _manifest(tmp_path, bucket), **opts)
    assert done.status is JobStatus.DONE
    after = catalog.get_folder("photos")
    assert (after.id, after.description, after.client_metadata) == (before.id, "changed", {"v": 2})


def test_batches_respect_limits(tmp_path, bucket, storage, catalog):
    batches = []
    engine = RegistrationEngine(catalog, storage)
    engine.register(
        read_manifest(_manifest(tmp_path, bucket)),
        "photos",
        RegistrationOptions(max_images_per_batch=3),
        progress=lambda p: batches.append(p.batches),
    )
    assert max(batches) == 2  # 4 images in batches of ≤3


def test_fetch_none_trusts_manifest_and_makes_no_request(tmp_path, bucket, storage, catalog):
    rows = [
        {
            "objectUrl": f"s3://{bucket.name}/raw/not-there.jpg",
            "imageMetadata": {"width": 10, "height": 20, "fileSize": 99, "mimeType": "image/jpeg"},
        }
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"images": rows}), encoding="utf-8")
    result = _register(catalog, storage, path, fetch="none")
    assert result.status is JobStatus.DONE and result.requests == 0
    rec = catalog.find_file("photos", "raw/not-there.jpg")
    assert (rec.width, rec.height, rec.size, rec.content_type) == (10, 20, 99, "image/jpeg")


def test_signed_urls_are_stored_canonical_and_never_leak(tmp_path, bucket, storage, catalog):
    signed = storage.sign("raw/plain.png", 900)
    missing = storage.sign("raw/missing.png", 900)
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"data": signed}, {"data": missing}]), encoding="utf-8")
    result = _register(catalog, storage, path, ignore_errors=True)
    assert result.registered == 1 and result.failed == 1
    assert catalog.find_file("photos", "raw/plain.png").object_url.startswith("s3://")
    dumped = result.model_dump_json() + catalog.get_job(result.job_id).model_dump_json()
    assert "X-Amz-Signature" not in dumped and "Signature=" not in dumped


def test_skip_duplicate_urls_leaves_existing_rows(tmp_path, bucket, storage, catalog):
    _register(catalog, storage, _manifest(tmp_path, bucket))
    bucket.put("raw/plain.png", image_bytes(99, 99, "PNG"), content_type="image/png")
    result = _register(catalog, storage, _manifest(tmp_path, bucket, skip_duplicate_urls=True))
    assert result.skipped == 4 and result.updated == 0
    assert catalog.find_file("photos", "raw/plain.png").width == 64


def test_header_grows_past_large_exif(tmp_path, s3_bucket, s3_config_factory, catalog):
    s3_bucket.put("raw/big-exif.jpg", image_bytes(50, 40, "JPEG", exif_padding=40_000))
    storage = S3Storage(s3_config_factory(prefix="raw/"))
    path = tmp_path / "m.csv"
    path.write_text(f"url\ns3://{s3_bucket.name}/raw/big-exif.jpg\n", encoding="utf-8")
    result = _register(catalog, storage, path)
    assert result.status is JobStatus.DONE
    rec = catalog.find_file("photos", "raw/big-exif.jpg")
    assert (rec.width, rec.height) == (50, 40)
    assert result.requests == 2 and 16 * 1024 < result.bytes_read <= 64 * 1024


def test_corrupt_and_empty_objects_are_unit_errors(tmp_path, s3_bucket, s3_config_factory, catalog):
    s3_bucket.put("raw/empty.png", b"")
    s3_bucket.put("raw/garbage.jpg", b"not an image at all" * 10)
    s3_bucket.put("raw/noise.jpg", b"\x00\x01\x02\xff" * 100)
    storage = S3Storage(s3_config_factory(prefix="raw/"))
    path = tmp_path / "m.csv"
    path.write_text(
        f"url\ns3://{s3_bucket.name}/raw/empty.png\ns3://{s3_bucket.name}/raw/garbage.jpg\n"
        f"s3://{s3_bucket.name}/raw/noise.jpg\n",
        encoding="utf-8",
    )
    result = _register(catalog, storage, path, ignore_errors=True)
    assert result.failed == 3
    reasons = [e.error for e in result.unit_errors]
    assert "zero-byte" in reasons[0]
    assert "content is text" in reasons[1] and "not the image" in reasons[1]
    assert "not a recognised image" in reasons[2]


def test_an_unexpected_crash_marks_the_job_failed(tmp_path, bucket, storage, catalog):
    class Boom(Exception):
        pass

    def explode(*_args, **_kwargs):
        raise Boom

    engine = RegistrationEngine(catalog, storage)
    engine._process = explode  # type: ignore[method-assign]
    with pytest.raises(Boom):
        engine.register(read_manifest(_manifest(tmp_path, bucket)), "photos")
    (job,) = catalog.list_jobs("photos")
    assert job.status is JobStatus.FAILED and job.error == "aborted: Boom"
    assert catalog.list_folders() == []  # the folder it created went with it


@pytest.mark.parametrize("folder", ["", " ", "../etc", "a\tb", "-rf", "x" * 129, "%00"])
def test_bad_folder_names_are_refused_before_any_job_or_request(
    tmp_path, bucket, storage, catalog, folder
):
    from orchestration_pkg.core.folders import FolderNameError

    engine = RegistrationEngine(catalog, storage)
    with pytest.raises(FolderNameError) as err:
        engine.register(read_manifest(_manifest(tmp_path, bucket)), folder, RegistrationOptions())
    assert "\n" not in str(err.value) and "folder names:" in str(err.value)
    assert catalog.list_jobs() == [] and catalog.list_folders() == []
