"""Video metadata from a ``RangeFile`` without decoding a frame or writing the object to disk.

mp4/mov/m4v: the box walker (``mp4boxes``) reads the ``ftyp`` brands, tells whether ``moov``
comes before ``mdat`` (faststart) and prefetches ``moov`` in one request; PyAV then parses the
cached ``moov``. webm/mkv and other containers are left to PyAV's demuxers (a seek to the Cues
at the end just fetches that block). Only container and stream headers are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import av

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.media.models import VideoMetadata
from orchestration_pkg.core.media.mp4boxes import Mp4Layout, is_bmff, walk_boxes
from orchestration_pkg.core.media.rangefile import RangeFile

PROBESIZE = 64 * 1024
"""Bytes of packets ``find_stream_info`` may read after the header (format detection is apart).

Metadata from every fixture is the same with 32 bytes … 256 KiB; a larger value only makes it
read more (e.g. 24-bit wav: 4 blocks at 256 KiB, 2 at 64 KiB). FFmpeg still reads at least the
first packet: for H.264 the pixel format is only known once the first slice is parsed.
"""
ANALYZE_US = 500_000
"""Microseconds of media ``find_stream_info`` may analyse (0 would mean FFmpeg's 5 s)."""
MIN_BUFFER = 4096
"""PyAV's read buffer is half a block (min 4 KiB): a sequential read from inside the first
block then rarely crosses into the next one (a full-block buffer costs an extra request)."""

_VIDEO_MIME = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "matroska": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mpegts": "video/mp2t",
    "ogg": "video/ogg",
    "flv": "video/x-flv",
}
_HINT_FORMATS = {
    "mp3": "mp3",
    "mpeg": "mp3",
    "aac": "aac",
    "h264": "h264",
    "264": "h264",
    "hevc": "hevc",
    "h265": "hevc",
    "ts": "mpegts",
    "m2ts": "mpegts",
}
"""Formats tried from the hint when content probing fails: those without a strong signature
(headerless MPEG audio, ADTS, raw H.264/HEVC, MPEG-TS). Never mp4 & co: forcing the mov
demuxer on non-ISO-BMFF bytes would only make it seek around the object."""


def probe_video(rf: RangeFile, *, hint: str | None = None) -> VideoMetadata:
    """Metadata of the video in ``rf``; ``hint`` is a file name, extension or MIME type.

    Raises ``ProbeError`` (empty, truncated, not a container, no video stream); storage
    failures propagate as ``StorageError``.
    """
    head = read_head(rf)
    layout = bmff_layout(rf, head)
    with open_av(rf, hint, kind="video") as container:
        stream = next(iter(container.streams.video), None)
        if stream is None:
            raise ProbeError(f"no video stream (container {container.format.name})")
        return _video_metadata(rf, container, stream, layout, head)


# -- shared with audio.py ------------------------------------------------------------------------


def read_head(rf: RangeFile, length: int = 64) -> bytes:
    """The first bytes of ``rf`` (fetches the first block); ProbeError when empty."""
    if rf.size == 0:
        raise ProbeError("empty object (0 bytes)")
    rf.seek(0)
    return rf.read(length)


def bmff_layout(rf: RangeFile, head: bytes) -> Mp4Layout | None:
    """Walk the boxes of an ISO-BMFF object (prefetching ``moov``); None for other formats."""
    if not is_bmff(head):
        return None
    layout = walk_boxes(rf)
    kinds = ", ".join(kind for kind, _, _ in layout.boxes)
    if layout.moov is None:
        cut = "truncated: " if layout.truncated else ""
        raise ProbeError(f"{cut}moov box missing (top-level boxes: {kinds})")
    if layout.truncated:
        raise ProbeError(f"truncated: the object ends inside a box (top-level boxes: {kinds})")
    return layout


@contextmanager
def open_av(rf: RangeFile, hint: str | None = None, *, kind: str = "media") -> Iterator[Any]:
    """``rf`` opened by PyAV with bounded probing; av errors become ``ProbeError``.

    Probing is by content; the hint's format is only tried when content probing fails.
    """
    try:
        container = _open(rf, None, kind)
    except ProbeError:
        fmt = _HINT_FORMATS.get(hint_ext(hint) or "")
        if fmt is None:
            raise
        container = _open(rf, fmt, kind)
    try:
        yield container
    finally:
        container.close()


def hint_ext(hint: str | None) -> str | None:
    """``"a/b.MP4"`` / ``".mp4"`` / ``"mp4"`` / ``"video/mp4"`` → ``"mp4"``."""
    if not hint:
        return None
    text = hint.strip().lower().rsplit("/", 1)[-1]
    return text.rsplit(".", 1)[-1] or None


def container_name(container: Any, layout: Mp4Layout | None, head: bytes) -> str:
    """Short container name: mp4/mov (from the brand), webm/matroska (EBML DocType), …"""
    if layout is not None:
        return "mov" if layout.major_brand == "qt" else "mp4"
    name = container.format.name
    if name == "matroska,webm":
        return ebml_doctype(head) or "matroska"
    return name.split(",")[0]


def ebml_doctype(head: bytes) -> str | None:
    """The DocType (``webm`` / ``matroska``) of an EBML header, if found in ``head``."""
    at = head.find(b"\x42\x82")
    if not head.startswith(b"\x1a\x45\xdf\xa3") or at < 0 or at + 3 > len(head):
        return None
    length = head[at + 2] & 0x7F if head[at + 2] & 0x80 else 0
    text = head[at + 3 : at + 3 + length].rstrip(b"\x00")
    return text.decode("ascii", "replace") or None


def seconds(value: int | None, time_base: Any) -> float | None:
    """A stream timestamp in seconds (None when unknown)."""
    if value is None or time_base is None or value <= 0:
        return None
    return float(value * time_base)


def container_seconds(container: Any) -> float | None:
    """The container duration in seconds (FFmpeg stores it in microseconds)."""
    duration = container.duration
    return duration / av.time_base if duration and duration > 0 else None


def codec_name(stream: Any) -> str | None:
    """The codec's canonical name (``mp3``, not the decoder's ``mp3float``)."""
    codec = _context_attr(stream, "codec")
    return (codec.canonical_name or codec.name) if codec is not None else None


# -- internals -------------------------------------------------------------------------------


def _open(rf: RangeFile, fmt: str | None, kind: str) -> Any:
    rf.seek(0)
    options = {"probesize": str(PROBESIZE), "analyzeduration": str(ANALYZE_US)}
    try:
        return av.open(
            rf,
            mode="r",
            format=fmt,
            container_options=options,
            buffer_size=max(MIN_BUFFER, rf.block_size // 2),
        )
    except av.FFmpegError as exc:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ProbeError(f"not {article} {kind} container ({_reason(exc)})") from exc


def _reason(exc: av.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _video_metadata(
    rf: RangeFile, container: Any, stream: Any, layout: Mp4Layout | None, head: bytes
) -> VideoMetadata:
    duration = seconds(stream.duration, stream.time_base) or container_seconds(container)
    fps = _fps(stream)
    audio = next(iter(container.streams.audio), None)
    name = container_name(container, layout, head)
    return VideoMetadata(
        mime_type=_VIDEO_MIME.get(name),
        file_size=rf.size,
        duration=duration,
        fps=fps,
        frame_count=_frame_count(stream, duration, fps),
        width=_context_attr(stream, "width"),
        height=_context_attr(stream, "height"),
        codec=codec_name(stream),
        pixel_format=_pixel_format(stream),
        bit_rate=_context_attr(stream, "bit_rate") or container.bit_rate or None,
        has_audio=audio is not None,
        audio_codec=codec_name(audio) if audio is not None else None,
        container=name,
        major_brand=layout.major_brand if layout else None,
        compatible_brands=layout.compatible_brands if layout else None,
        faststart=layout.faststart if layout else None,
    )


def _fps(stream: Any) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return None


def _frame_count(stream: Any, duration: float | None, fps: float | None) -> int | None:
    if stream.frames:
        return int(stream.frames)
    if duration and fps:
        return round(duration * fps)
    return None


def _context_attr(stream: Any, name: str) -> Any:
    """An attribute of the stream's codec context (None without a decoder, or when 0)."""
    return getattr(stream.codec_context, name, None) or None


def _pixel_format(stream: Any) -> str | None:
    fmt = _context_attr(stream, "format")
    return fmt.name if fmt is not None else None
