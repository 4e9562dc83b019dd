"""Metadata, requirement policies, quotas and --verify-metadata through the engine (moto)."""

from __future__ import annotations

import json

import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.policy import Quotas, Requirements
from orchestration_pkg.core.providers.s3.storage import S3Storage
from tests.media import image_bytes, video_bytes


@pytest.fixture
def env(tmp_path, s3_bucket, s3_config_factory):
    s3_bucket.put("m/upright.jpg", image_bytes(40, 30, "JPEG", orientation=1), "image/jpeg")
    s3_bucket.put("m/rotated.jpg", image_bytes(40, 30, "JPEG", orientation=6), "image/jpeg")
    s3_bucket.put("m/plain.png", image_bytes(64, 48, "PNG"), "image/png")
    s3_bucket.put("m/clip.mp4", video_bytes(64, 48, frames=20, fps=10), "video/mp4")
    s3_bucket.put("m/clip444.mp4", video_bytes(32, 32, 12, 6, "yuv444p", False), "video/mp4")
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    yield tmp_path, s3_bucket, S3Storage(s3_config_factory(prefix="m/")), catalog
    catalog.dispose()


def _run(env, names, folder="f", given=None, **opts):
    tmp_path, bucket, storage, catalog = env
    items = []
    for name in names:
        item = {"objectUrl": f"s3://{bucket.name}/m/{name}"}
        item.update((given or {}).get(name, {}))
        items.append(item)
    path = tmp_path / f"{folder}.json"
    path.write_text(
        json.dumps(
            {
                "images": [i for i in items if "mp4" not in i["objectUrl"]],
                "videos": [i for i in items if "mp4" in i["objectUrl"]],
            }
        )
    )
    engine = RegistrationEngine(catalog, storage)
    return engine.register(read_manifest(path), folder, RegistrationOptions(**opts))


def test_video_and_image_metadata_are_stored_with_totals(env):
    result = _run(env, ["clip.mp4", "rotated.jpg"])
    assert result.status is JobStatus.DONE, result.unit_errors
    catalog = env[3]
    video = catalog.find_file("f", "m/clip.mp4")
    meta = video.media_metadata
    assert (video.width, video.height, video.frame_count) == (64, 48, 20)
    assert meta["fps"] == 10 and meta["codec"] == "h264" and meta["pixel_format"] == "yuv420p"
    assert meta["duration"] == pytest.approx(2.0, abs=0.15) and meta["faststart"] is True
    image = catalog.find_file("f", "m/rotated.jpg").media_metadata
    assert (image["display_width"], image["display_height"]) == (30, 40)
    assert result.stats["video_frames"] == 20
    assert result.stats["video_seconds"] == pytest.approx(2.0, abs=0.15)


def test_requirements_error_names_rule_and_value(env):
    req = Requirements.model_validate(
        {
            "image": {"allowed_orientations": [1]},
            "video": {"pixel_formats": ["yuv420p"], "major_brands": ["mp42"]},
        }
    )
    result = _run(
        env,
        ["upright.jpg", "rotated.jpg", "plain.png", "clip444.mp4"],
        ignore_errors=True,
        requirements=req,
    )
    assert result.registered == 2 and result.failed == 2
    errors = {e.row: e.error for e in result.unit_errors}
    assert "image.allowed_orientations" in errors[2] and "6" in errors[2]
    video_error = errors[4]
    assert "video.pixel_formats" in video_error and "yuv444p" in video_error
    assert "video.major_brands" in video_error and "isom" in video_error


def test_requirements_warn_mode_registers_and_warns(env):
    req = Requirements.model_validate(
        {"on_violation": "warn", "image": {"allowed_orientations": [1]}}
    )
    result = _run(env, ["rotated.jpg"], requirements=req)
    assert result.status is JobStatus.DONE and result.registered == 1
    assert len(result.warnings) == 1 and "orientation" in result.warnings[0].error
    stored = env[3].get_job(result.job_id)
    assert stored.warnings[0].error == result.warnings[0].error and stored.unit_errors == []


def test_job_quota_fails_before_registering_anything(env):
    result = _run(
        env,
        ["upright.jpg", "rotated.jpg", "plain.png"],
        ignore_errors=True,
        quotas=Quotas(max_images_per_job=2),
    )
    assert result.status is JobStatus.FAILED
    assert "max_images_per_job=2 exceeded by 1" in result.error
    assert env[3].list_folders() == []  # nothing registered, no empty folder left


def test_folder_quota_counts_what_is_already_there(env):
    quotas = Quotas(max_images_per_folder=3)
    assert _run(env, ["upright.jpg", "rotated.jpg"], quotas=quotas).status is JobStatus.DONE
    again = _run(env, ["upright.jpg", "rotated.jpg"], quotas=quotas)  # nothing new: fine
    assert again.status is JobStatus.DONE
    over = _run(env, ["plain.png", "clip.mp4"], quotas=Quotas(max_images_per_folder=2))
    assert over.status is JobStatus.FAILED and "exceeded by 1" in over.error
    assert env[3].count_files("f") == 2


def test_frame_quota(env):
    result = _run(env, ["clip.mp4"], quotas=Quotas(max_video_frames_per_job=15))
    assert result.status is JobStatus.FAILED
    assert "max_video_frames_per_job=15 exceeded by 5" in result.error


def test_verify_metadata_reports_each_mismatch(env):
    given = {
        "plain.png": {"imageMetadata": {"width": 100, "height": 48}},
        "clip.mp4": {"videoMetadata": {"fps": 10, "duration": 2.0, "width": 64, "height": 48}},
    }
    result = _run(
        env, ["plain.png", "clip.mp4"], given=given, ignore_errors=True, verify_metadata=True
    )
    assert result.registered == 1 and result.failed == 1
    assert "width is 100 in the manifest but 64" in result.unit_errors[0].error
    # without --verify-metadata the manifest is trusted and nothing is probed for the video
    trusted = _run(env, ["clip.mp4"], folder="g", given=given)
    assert trusted.status is JobStatus.DONE and trusted.bytes_read == 0


def test_decompression_bomb_is_a_unit_error(env):
    tmp_path, bucket, storage, catalog = env
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 1000  # a 64×48 image is then a "bomb" (pixels > 2× limit)
    try:
        result = _run(env, ["plain.png"], ignore_errors=True)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    assert result.failed == 1 and "decompression" in result.unit_errors[0].error.lower()
