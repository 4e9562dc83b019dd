"""Typed metadata per media kind, each mappable one-to-one to Encord's ``*Metadata`` blocks."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Meta(BaseModel):
    """Shared fields and the Encord mapping (``ENCORD_BLOCK`` + ``ENCORD_FIELDS``)."""

    model_config = ConfigDict(extra="forbid")

    ENCORD_BLOCK: ClassVar[str] = ""
    ENCORD_FIELDS: ClassVar[dict[str, str]] = {}

    mime_type: str | None = None
    file_size: int | None = Field(default=None, ge=0)

    def to_encord(self) -> dict[str, Any]:
        """``{"imageMetadata": {...}}``-style dict with Encord's camelCase names."""
        data = self.model_dump(exclude_none=True)
        block = {enc: data[ours] for ours, enc in self.ENCORD_FIELDS.items() if ours in data}
        return {self.ENCORD_BLOCK: block}

    def flat(self) -> dict[str, Any]:
        """What the catalog stores (``media_metadata`` JSON): every known field."""
        return self.model_dump(exclude_none=True)


class ImageMetadata(_Meta):
    kind: Literal["image"] = "image"
    ENCORD_BLOCK: ClassVar[str] = "imageMetadata"
    ENCORD_FIELDS: ClassVar[dict[str, str]] = {
        "mime_type": "mimeType",
        "file_size": "fileSize",
        "width": "width",
        "height": "height",
    }
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    format: str | None = None
    mode: str | None = None
    orientation: int | None = Field(default=None, ge=1, le=8)
    display_width: int | None = Field(default=None, gt=0, description="after EXIF rotation")
    display_height: int | None = Field(default=None, gt=0, description="after EXIF rotation")
    frames: int | None = Field(default=None, ge=1, description="animated images / multi-page")


class RasterMetadata(ImageMetadata):
    """Tiled imagery (GeoTIFF / COG)."""

    kind: Literal["raster"] = "raster"  # type: ignore[assignment]
    bands: int | None = Field(default=None, ge=1)
    dtype: str | None = None
    tile_width: int | None = Field(default=None, gt=0)
    tile_height: int | None = Field(default=None, gt=0)
    overview_count: int | None = Field(default=None, ge=0)
    crs_epsg: int | None = None
    cloud_optimized: bool | None = None


class VideoMetadata(_Meta):
    kind: Literal["video"] = "video"
    ENCORD_BLOCK: ClassVar[str] = "videoMetadata"
    ENCORD_FIELDS: ClassVar[dict[str, str]] = {
        "fps": "fps",
        "duration": "duration",
        "width": "width",
        "height": "height",
        "file_size": "fileSize",
        "mime_type": "mimeType",
    }
    duration: float | None = Field(default=None, ge=0)
    fps: float | None = Field(default=None, gt=0)
    frame_count: int | None = Field(default=None, ge=0)
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    codec: str | None = None
    pixel_format: str | None = None
    bit_rate: int | None = Field(default=None, ge=0)
    has_audio: bool | None = None
    audio_codec: str | None = None
    container: str | None = None
    major_brand: str | None = None
    compatible_brands: list[str] | None = None
    faststart: bool | None = Field(default=None, description="moov before mdat (mp4/mov)")


class AudioMetadata(_Meta):
    kind: Literal["audio"] = "audio"
    ENCORD_BLOCK: ClassVar[str] = "audioMetadata"
    ENCORD_FIELDS: ClassVar[dict[str, str]] = {
        "duration": "duration",
        "file_size": "fileSize",
        "mime_type": "mimeType",
        "sample_rate": "sampleRate",
        "bit_depth": "bitDepth",
        "codec": "codec",
        "num_channels": "numChannels",
    }
    duration: float | None = Field(default=None, ge=0)
    sample_rate: int | None = Field(default=None, gt=0)
    num_channels: int | None = Field(default=None, gt=0)
    codec: str | None = None
    bit_depth: int | None = Field(default=None, gt=0)
    bit_rate: int | None = Field(default=None, ge=0)
    container: str | None = None


class PdfMetadata(_Meta):
    kind: Literal["pdf"] = "pdf"
    ENCORD_BLOCK: ClassVar[str] = "pdfMetadata"
    ENCORD_FIELDS: ClassVar[dict[str, str]] = {
        "file_size": "fileSize",
        "mime_type": "mimeType",
        "page_count": "numPages",
    }
    page_count: int | None = Field(default=None, ge=0)
    page_width: float | None = Field(default=None, gt=0, description="first page, points")
    page_height: float | None = Field(default=None, gt=0, description="first page, points")
    encrypted: bool | None = None


class TextMetadata(_Meta):
    kind: Literal["text"] = "text"
    ENCORD_BLOCK: ClassVar[str] = "textMetadata"
    ENCORD_FIELDS: ClassVar[dict[str, str]] = {"file_size": "fileSize", "mime_type": "mimeType"}
    encoding: str | None = None
    line_count: int | None = Field(default=None, ge=0)
    sampled_bytes: int | None = Field(default=None, ge=0, description="bytes read to count")
    line_count_exact: bool | None = None


AnyMetadata = (
    ImageMetadata | RasterMetadata | VideoMetadata | AudioMetadata | PdfMetadata | TextMetadata
)
