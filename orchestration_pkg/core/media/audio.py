"""Audio metadata (wav, mp3, flac, ogg vorbis/opus, m4a, …) from a ``RangeFile``, no decoding.

m4a goes through the mp4 box walker first, so its ``moov`` is fetched in one request. mp3
duration is FFmpeg's estimate: exact from a Xing/Info/VBRI header when the encoder wrote one,
otherwise from the bit rate and the object size — never by reading the whole file.
"""

from __future__ import annotations

import re
from typing import Any

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.media.models import AudioMetadata
from orchestration_pkg.core.media.mp4boxes import Mp4Layout
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.media.video import (
    bmff_layout,
    codec_name,
    container_name,
    container_seconds,
    open_av,
    read_head,
    seconds,
)

_AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "mov": "audio/quicktime",
    "webm": "audio/webm",
    "matroska": "audio/x-matroska",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "w64": "audio/x-w64",
}
OGG_TAIL = 65_307
"""FFmpeg's Ogg demuxer reads the last page (at most this many bytes) for the duration:
prefetched in one request instead of two block reads."""
_SAMPLE_BITS = {"u8": 8, "s16": 16, "s32": 32, "s64": 64, "flt": 32, "dbl": 64}
_PCM_BITS = re.compile(r"^pcm_[suf](\d+)")
_LOSSLESS = {"flac", "alac", "wavpack", "ape", "tta", "truehd", "mlp", "shorten", "tak"}


def probe_audio(rf: RangeFile, *, hint: str | None = None) -> AudioMetadata:
    """Metadata of the first audio stream in ``rf``; ``hint`` is a file name, extension or MIME.

    Raises ``ProbeError`` (empty, truncated, not a container, no audio stream); storage
    failures propagate as ``StorageError``.
    """
    head = read_head(rf)
    layout = bmff_layout(rf, head)
    if head.startswith(b"OggS"):
        rf.prefetch(max(0, rf.size - OGG_TAIL), OGG_TAIL)
    with open_av(rf, hint, kind="audio") as container:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            raise ProbeError(f"no audio stream (container {container.format.name})")
        return _audio_metadata(rf, container, stream, layout, head)


def _audio_metadata(
    rf: RangeFile, container: Any, stream: Any, layout: Mp4Layout | None, head: bytes
) -> AudioMetadata:
    context = stream.codec_context
    if context is None:
        raise ProbeError(f"unsupported audio codec (container {container.format.name})")
    name = _container(container, layout, head)
    codec = codec_name(stream) or context.name
    return AudioMetadata(
        mime_type=_AUDIO_MIME.get(name),
        file_size=rf.size,
        duration=_duration(container, stream, name),
        sample_rate=context.sample_rate or None,
        num_channels=context.channels or None,
        codec=codec,
        bit_depth=_bit_depth(codec, context, head),
        bit_rate=context.bit_rate or container.bit_rate or None,
        container=name,
    )


def _container(container: Any, layout: Mp4Layout | None, head: bytes) -> str:
    """Like ``container_name`` but ISO-BMFF audio is ``m4a`` (unless it is QuickTime)."""
    name = container_name(container, layout, head)
    return "m4a" if name == "mp4" else name


def _duration(container: Any, stream: Any, name: str) -> float | None:
    """Stream (else container) duration; Ogg Opus without its pre-skip (priming samples)."""
    duration = seconds(stream.duration, stream.time_base) or container_seconds(container)
    if duration is not None and name == "ogg":
        duration = max(0.0, duration - opus_preskip(stream.codec_context.extradata))
    return duration


def opus_preskip(extradata: bytes | None) -> float:
    """Seconds of pre-skip in an ``OpusHead`` (FFmpeg's Ogg duration counts them); else 0."""
    if not extradata or not extradata.startswith(b"OpusHead") or len(extradata) < 12:
        return 0.0
    return int.from_bytes(extradata[10:12], "little") / 48_000


def _bit_depth(codec: str, context: Any, head: bytes) -> int | None:
    """Bits per sample of lossless codecs; None for lossy ones (mp3, aac, vorbis, opus, …)."""
    pcm = _PCM_BITS.match(codec)
    if pcm:
        return int(pcm.group(1))
    if codec == "flac":
        bits = flac_bits(head)
        if bits:
            return bits
    if codec in _LOSSLESS or getattr(context.codec, "lossless", False):
        fmt = context.format
        return _SAMPLE_BITS.get(fmt.name.rstrip("p")) if fmt is not None else None
    return None


def flac_bits(head: bytes) -> int | None:
    """Bits per sample from the STREAMINFO block (the decoder widens 24-bit to s32)."""
    if not head.startswith(b"fLaC") or len(head) < 8 + 18 or head[4] & 0x7F != 0:
        return None
    info = head[8:]  # STREAMINFO body, after "fLaC" and the 4-byte block header
    return (((info[12] & 0x01) << 4) | (info[13] >> 4)) + 1
