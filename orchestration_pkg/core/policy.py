"""Requirement policies (what a registered file must satisfy) and quotas (how much a folder or
job may hold). Both are plain config models evaluated on probed metadata."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageRules(_Strict):
    allowed_orientations: list[int] | None = Field(
        default=None, description="EXIF orientation must be absent or one of these (e.g. [1])"
    )
    max_pixels: int | None = Field(default=None, gt=0)
    max_width: int | None = Field(default=None, gt=0)
    max_height: int | None = Field(default=None, gt=0)
    formats: list[str] | None = None


class VideoRules(_Strict):
    major_brands: list[str] | None = None
    pixel_formats: list[str] | None = None
    codecs: list[str] | None = None
    max_duration: float | None = Field(default=None, gt=0)
    max_pixels: int | None = Field(default=None, gt=0)
    require_faststart: bool = False


class AudioRules(_Strict):
    codecs: list[str] | None = None
    sample_rates: list[int] | None = None
    max_duration: float | None = Field(default=None, gt=0)


class Requirements(_Strict):
    """Rules per media kind; ``on_violation: warn`` registers the file and records a warning."""

    on_violation: Literal["error", "warn"] = "error"
    image: ImageRules = Field(default_factory=ImageRules)
    video: VideoRules = Field(default_factory=VideoRules)
    audio: AudioRules = Field(default_factory=AudioRules)


class Quotas(_Strict):
    max_images_per_folder: int | None = Field(default=None, ge=0)
    max_video_frames_per_folder: int | None = Field(default=None, ge=0)
    max_images_per_job: int | None = Field(default=None, ge=0)
    max_video_frames_per_job: int | None = Field(default=None, ge=0)

    def is_set(self) -> bool:
        return any(v is not None for v in self.model_dump().values())


class FolderCheck(_Strict):
    """The Dagster check ``no_unit_errors`` of a folder's asset: how loud a failed file is."""

    severity: Literal["warn", "error"] = Field(
        default="error", description="warn | error: how a failed check shows in Dagster"
    )
    blocking: bool = Field(
        default=False, description="a failed error-severity check stops downstream assets"
    )


class FolderPolicy(_Strict):
    """A folder declared in config (top-level ``folders:``): policy overrides, and what its
    Dagster asset registers when materialized."""

    requirements: Requirements | None = None
    quotas: Quotas | None = None
    integration: str | None = Field(
        default=None, description="integration its files come from (default: the default one)"
    )
    manifest: str | None = Field(
        default=None, description="manifest its Dagster asset registers (path or object URL)"
    )
    ignore_errors: bool = Field(default=False, description="its asset's runs: register the rest")
    description: str | None = Field(default=None, description="folder description")
    check: FolderCheck = Field(default_factory=FolderCheck)


def _in(rule: str, value: Any, allowed: list[Any] | None, what: str) -> str | None:
    if allowed is None or value is None:
        return None
    norm = {str(a).lower() for a in allowed}
    if str(value).lower() in norm:
        return None
    return f"{rule}: {what} {value!r} not in {sorted(norm)}"


def _max(rule: str, value: float | None, limit: float | None, what: str) -> str | None:
    if limit is None or value is None or value <= limit:
        return None
    return f"{rule}: {what} {value:g} exceeds {limit:g}"


def violations(kind: str | None, meta: dict[str, Any], req: Requirements) -> list[str]:
    """Every rule ``meta`` breaks, each naming the rule and the value."""
    found: list[str | None] = []
    if kind in ("image", "raster", "image_group"):
        r = req.image
        orient = meta.get("orientation")
        if r.allowed_orientations is not None and orient is not None:
            found.append(
                _in(
                    "image.allowed_orientations", orient, r.allowed_orientations, "EXIF orientation"
                )
            )
        pixels = (meta.get("width") or 0) * (meta.get("height") or 0) or None
        found += [
            _max("image.max_pixels", pixels, r.max_pixels, "pixel count"),
            _max("image.max_width", meta.get("width"), r.max_width, "width"),
            _max("image.max_height", meta.get("height"), r.max_height, "height"),
            _in("image.formats", meta.get("format"), r.formats, "format"),
        ]
    elif kind == "video":
        r = req.video
        pixels = (meta.get("width") or 0) * (meta.get("height") or 0) or None
        found += [
            _in("video.major_brands", _brand(meta), r.major_brands, "major brand"),
            _in("video.pixel_formats", meta.get("pixel_format"), r.pixel_formats, "pixel format"),
            _in("video.codecs", meta.get("codec"), r.codecs, "codec"),
            _max("video.max_duration", meta.get("duration"), r.max_duration, "duration (s)"),
            _max("video.max_pixels", pixels, r.max_pixels, "pixel count"),
        ]
        if r.require_faststart and meta.get("faststart") is False:
            found.append("video.require_faststart: moov box is after mdat (not faststart)")
    elif kind == "audio":
        r = req.audio
        found += [
            _in("audio.codecs", meta.get("codec"), r.codecs, "codec"),
            _in("audio.sample_rates", meta.get("sample_rate"), r.sample_rates, "sample rate"),
            _max("audio.max_duration", meta.get("duration"), r.max_duration, "duration (s)"),
        ]
    return [v for v in found if v]


def _brand(meta: dict[str, Any]) -> str | None:
    brand = meta.get("major_brand")
    return brand.strip() if isinstance(brand, str) else brand


def frames_of(meta: dict[str, Any]) -> int:
    """Video frames a file counts for (frame_count, else duration × fps, else 0)."""
    if meta.get("frame_count"):
        return int(meta["frame_count"])
    if meta.get("duration") and meta.get("fps"):
        return round(float(meta["duration"]) * float(meta["fps"]))
    return 0
