"""Pick the prober by content: sniff the first bytes (extension and Content-Type as hints),
then let the kind's prober read what it needs through the same RangeFile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.media.sniff import sniff
from orchestration_pkg.core.models import MediaKind
from orchestration_pkg.core.probe import ProbeResult
from orchestration_pkg.core.storage import Storage

FIRST_READ = 16 * 1024
MAX_PROBE_BYTES = 64 * 1024 * 1024  # a prober that wants more is refused, never a download
MEDIA_HINTS = {
    MediaKind.IMAGE,
    MediaKind.IMAGE_GROUP,
    MediaKind.VIDEO,
    MediaKind.AUDIO,
    MediaKind.PDF,
    MediaKind.DICOM_SERIES,
}
# Sniffed kinds that may stand where the manifest or the file name announces a kind.
COMPATIBLE = {
    MediaKind.IMAGE: {"image", "raster"},
    MediaKind.IMAGE_GROUP: {"image", "raster"},
    MediaKind.VIDEO: {"video", "audio"},
    MediaKind.AUDIO: {"audio", "video"},
    MediaKind.PDF: {"pdf"},
}


def _prober(kind: str) -> Callable[[RangeFile, str], Any] | None:
    """The prober of a sniffed kind (imported lazily: PyAV and pypdf load only when used)."""
    if kind == "image":
        from orchestration_pkg.core.media.image import probe_image_file

        return lambda rf, _fmt: probe_image_file(rf)
    if kind == "raster":
        from orchestration_pkg.core.media.raster import probe_raster

        return lambda rf, _fmt: probe_raster(rf)
    if kind == "video":
        from orchestration_pkg.core.media.video import probe_video

        return lambda rf, fmt: probe_video(rf, hint=fmt)
    if kind == "audio":
        from orchestration_pkg.core.media.audio import probe_audio

        return lambda rf, fmt: probe_audio(rf, hint=fmt)
    if kind == "pdf":
        from orchestration_pkg.core.media.document import probe_pdf

        return lambda rf, _fmt: probe_pdf(rf)
    if kind == "text":
        from orchestration_pkg.core.media.document import probe_text

        return lambda rf, _fmt: probe_text(rf)
    return None


def probe_object(storage: Storage, key: str, hint: MediaKind | None = None) -> ProbeResult:
    """Object facts + typed metadata (as a flat dict) from the fewest ranged reads."""
    rf = RangeFile(storage, key, block_size=FIRST_READ, max_bytes=MAX_PROBE_BYTES)
    head = rf.read(FIRST_READ)
    rf.seek(0)
    where = storage.canonical_url(key)
    assert rf.info is not None
    if rf.size == 0:
        raise ProbeError(f"{where}: zero-byte object")
    found = sniff(head, name=where, content_type=rf.info.content_type)
    if hint in COMPATIBLE and found.kind != "unknown" and found.kind not in COMPATIBLE[hint]:
        raise ProbeError(
            f"{where}: content is {found.format} ({found.kind}), not the {hint.value} "
            "the manifest or the file name announces"
        )
    prober = _prober(found.kind)
    if prober is None:
        if hint in MEDIA_HINTS:
            raise ProbeError(f"{where}: not a recognised {hint.value} (unknown content)")
        return ProbeResult(
            info=rf.info, metadata={}, bytes_read=rf.bytes_read, requests=rf.requests
        )
    try:
        meta = prober(rf, found.format)
    except ProbeError as exc:
        raise ProbeError(f"{where}: {exc}") from None
    data = meta.flat()
    data.setdefault("mime_type", found.mime_type)
    data["file_size"] = rf.size
    data = {k: v for k, v in data.items() if v is not None}
    return ProbeResult(info=rf.info, metadata=data, bytes_read=rf.bytes_read, requests=rf.requests)
