"""probe_video / probe_audio / the mp4 box walker, through S3Storage + RangeFile on moto.

Every fixture is generated here with PyAV (no committed media, no ffmpeg CLI). Encoding goes
through a temporary file because the mp4 muxer's ``faststart`` re-opens its output by name for
the second pass; only the resulting bytes are used (uploaded to the moto bucket).
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import pytest

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.media.audio import probe_audio
from orchestration_pkg.core.media.models import AudioMetadata, VideoMetadata
from orchestration_pkg.core.media.mp4boxes import walk_boxes
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.media.video import probe_video
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.s3.storage import S3Storage
from orchestration_pkg.core.storage import RangeRead

MiB = 1024 * 1024
BLOCK = 64 * 1024
FASTSTART = {"movflags": "faststart"}
BIG = {"width": 320, "height": 240, "seconds": 3, "noise": True, "x264": {"qp": "0"}}
"""Lossless noise: 30 frames of ~140 KiB, about 4 MiB in all, encoded in well under a second."""

# -- fixture generation ---------------------------------------------------------------------------


def _encode(fmt: str, write: Callable[[Any], None], options: dict[str, str] | None = None) -> bytes:
    """Run ``write(container)`` on a new output container and return the file's bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"out.{fmt}")
        with av.open(path, mode="w", format=fmt, options=options or {}) as container:
            write(container)
        with open(path, "rb") as fh:
            return fh.read()


def _mux(container: Any, stream: Any, frame: Any) -> None:
    for packet in stream.encode(frame):
        container.mux(packet)


def _video_frames(width: int, height: int, count: int, noise: bool) -> list[Any]:
    rng = np.random.default_rng(7)
    frames = []
    for i in range(count):
        if noise:
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        else:
            pixels = np.full((height, width, 3), (i * 12) % 256, dtype=np.uint8)
        frames.append(av.VideoFrame.from_ndarray(pixels, format="rgb24"))
    return frames


def _tone(stream: Any, seconds: float) -> list[Any]:
    """A sine tone in the stream's sample format / layout, cut in encoder-sized frames."""
    ctx = stream.codec_context
    fmt, rate, channels = ctx.format.name, ctx.sample_rate, ctx.layout.nb_channels
    total, step = int(rate * seconds), ctx.frame_size or 1024
    wave = np.sin(np.arange(total) / 5.0)
    if fmt.startswith("s16"):
        wave = (wave * 3000).astype(np.int16)
    elif fmt.startswith("s32"):
        wave = (wave * 3e8).astype(np.int32)
    else:
        wave = wave.astype(np.float32)
    frames = []
    for start in range(0, total, step):
        chunk = wave[start : start + step]
        planar = fmt.endswith("p")
        array = np.tile(chunk, (channels, 1)) if planar else np.repeat(chunk, channels)[None]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(array), format=fmt, layout=ctx.layout.name
        )
        frame.sample_rate, frame.pts = rate, start
        frames.append(frame)
    return frames


def video_bytes(
    fmt: str = "mp4",
    codec: str = "libx264",
    *,
    width: int = 64,
    height: int = 48,
    fps: int = 10,
    seconds: int = 2,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    audio: str | None = None,
    noise: bool = False,
    x264: dict[str, str] | None = None,
) -> bytes:
    """A ``seconds``-long ``fps`` video (+ an optional mono 8 kHz audio track)."""
    stream_options = {"preset": "ultrafast", **(x264 or {})} if codec == "libx264" else {}

    def write(container: Any) -> None:
        stream = container.add_stream(codec, rate=fps, options=stream_options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        sound = container.add_stream(audio, rate=8000, layout="mono") if audio else None
        for frame in [*_video_frames(width, height, fps * seconds, noise), None]:
            _mux(container, stream, frame)
        if sound is not None:
            for frame in [*_tone(sound, seconds), None]:
                _mux(container, sound, frame)

    return _encode(fmt, write, options)


def audio_bytes(
    fmt: str,
    codec: str,
    *,
    rate: int = 8000,
    layout: str = "mono",
    sample_fmt: str = "s16",
    seconds: float = 1.5,
) -> bytes:
    """``seconds`` of a sine tone encoded with ``codec`` into container ``fmt``."""

    def write(container: Any) -> None:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        stream.format = sample_fmt
        for frame in [*_tone(stream, seconds), None]:
            _mux(container, stream, frame)

    return _encode(fmt, write)


def _box(kind: bytes, body_len: int, *, large: bool = False, to_eof: bool = False) -> bytes:
    """A box header (+ zero body): 32-bit size, 64-bit largesize or size 0 (to EOF)."""
    if large:
        return struct.pack(">I4sQ", 1, kind, body_len + 16) + bytes(body_len)
    size = 0 if to_eof else body_len + 8
    return struct.pack(">I4s", size, kind) + bytes(body_len)


FTYP = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"mp42", 1, b"mp42", b"isom")


# -- probing through S3 ----------------------------------------------------------------------------


class MemoryStorage:
    """Bytes in memory behind ``read_range`` (for the synthetic box-layout tests)."""

    name, provider = "mem", "memory"

    def __init__(self, data: bytes) -> None:
        self.data, self.calls = data, []

    def canonical_url(self, key: str) -> str:
        return f"mem://{key}"

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        self.calls.append((start, length))
        info = ObjectInfo(key=key, size=len(self.data), etag="e")
        return RangeRead(self.data[start : start + length], info)


@pytest.fixture(scope="module")
def media() -> dict[str, bytes]:
    """Every media fixture, generated once per module (a fraction of a second in all)."""
    return {
        "moov_end.mp4": video_bytes(),
        "faststart.mp4": video_bytes(options={**FASTSTART, "brand": "mp42"}),
        "yuv444.mp4": video_bytes(pix_fmt="yuv444p", options=FASTSTART),
        "with_audio.mp4": video_bytes(audio="aac"),
        "clip.webm": video_bytes("webm", "libvpx-vp9"),
        "vp8.webm": video_bytes("webm", "libvpx"),
        "clip.mkv": video_bytes("matroska"),
        "clip.mov": video_bytes("mov"),
        "big_moov_end.mp4": video_bytes(**BIG),
        "big_faststart.mp4": video_bytes(**BIG, options=FASTSTART),
        "mono8k.wav": audio_bytes("wav", "pcm_s16le"),
        "stereo24.wav": audio_bytes(
            "wav", "pcm_s24le", rate=44100, layout="stereo", sample_fmt="s32"
        ),
        "tone.flac": audio_bytes("flac", "flac", rate=22050),
        "tone24.flac": audio_bytes("flac", "flac", rate=48000, layout="stereo", sample_fmt="s32"),
        "tone.mp3": audio_bytes("mp3", "libmp3lame", rate=22050, sample_fmt="s16p"),
        "long.mp3": audio_bytes("mp3", "libmp3lame", rate=44100, sample_fmt="s16p", seconds=30),
        "tone.ogg": audio_bytes("ogg", "libopus", rate=48000),
        "long.ogg": audio_bytes("ogg", "libopus", rate=48000, seconds=60),
        "tone.m4a": audio_bytes("ipod", "aac", rate=16000, sample_fmt="fltp"),
        "long.m4a": audio_bytes("ipod", "aac", rate=44100, sample_fmt="fltp", seconds=60),
    }


@pytest.fixture
def upload(s3_bucket, s3_config_factory) -> Callable[..., RangeFile]:
    """``upload(key, data)`` → a fresh ``RangeFile`` over the object in the moto bucket."""
    storage = S3Storage(s3_config_factory())

    def put(key: str, data: bytes) -> RangeFile:
        s3_bucket.put(key, data)
        return RangeFile(storage, key)

    return put


def _video(upload: Callable[..., RangeFile], media: dict[str, bytes], key: str) -> tuple:
    rf = upload(key, media[key])
    return probe_video(rf, hint=key), rf


def _audio(upload: Callable[..., RangeFile], media: dict[str, bytes], key: str) -> tuple:
    rf = upload(key, media[key])
    return probe_audio(rf, hint=key), rf


def _check(meta: VideoMetadata | AudioMetadata, expected: dict[str, Any]) -> None:
    got = meta.flat()
    duration = expected.pop("duration")
    assert got.pop("duration") == pytest.approx(duration, abs=0.01)
    assert {k: got.get(k) for k in expected} == expected


# -- video ----------------------------------------------------------------------------------------

SMALL = {"width": 64, "height": 48, "fps": 10.0, "frame_count": 20, "duration": 2.0}
H264 = {**SMALL, "codec": "h264", "container": "mp4", "mime_type": "video/mp4"}
VIDEO_CASES = {
    "moov_end.mp4": {
        **H264,
        "pixel_format": "yuv420p",
        "major_brand": "isom",
        "compatible_brands": ["isom", "iso2", "avc1", "mp41"],
        "faststart": False,
        "has_audio": False,
    },
    "faststart.mp4": {
        **H264,
        "pixel_format": "yuv420p",
        "major_brand": "mp42",
        "faststart": True,
        "has_audio": False,
    },
    "yuv444.mp4": {**H264, "pixel_format": "yuv444p", "faststart": True},
    "with_audio.mp4": {**H264, "has_audio": True, "audio_codec": "aac", "faststart": False},
    "clip.webm": {
        **SMALL,
        "codec": "vp9",
        "pixel_format": "yuv420p",
        "container": "webm",
        "mime_type": "video/webm",
        "faststart": None,
        "major_brand": None,
        "has_audio": False,
    },
    "vp8.webm": {**SMALL, "codec": "vp8", "container": "webm", "mime_type": "video/webm"},
    "clip.mkv": {
        **SMALL,
        "codec": "h264",
        "container": "matroska",
        "mime_type": "video/x-matroska",
    },
    "clip.mov": {
        **SMALL,
        "codec": "h264",
        "pixel_format": "yuv420p",
        "container": "mov",
        "mime_type": "video/quicktime",
        "major_brand": "qt",
        "faststart": False,
    },
}


@pytest.mark.parametrize("key", list(VIDEO_CASES))
def test_small_videos_exact_metadata_in_one_request(upload, media, key):
    meta, rf = _video(upload, media, key)
    _check(meta, dict(VIDEO_CASES[key]))
    assert meta.file_size == len(media[key]) and meta.bit_rate and meta.bit_rate > 0
    assert rf.requests == 1  # everything lives in the first 64 KiB block


def test_encord_block_of_a_probed_video(upload, media):
    meta, _ = _video(upload, media, "faststart.mp4")
    block = meta.to_encord()["videoMetadata"]
    assert block["fps"] == 10.0 and (block["width"], block["height"]) == (64, 48)
    assert block["mimeType"] == "video/mp4" and block["duration"] == pytest.approx(2.0)


BIG_EXPECTED = {
    "width": 320,
    "height": 240,
    "fps": 10.0,
    "frame_count": 30,
    "duration": 3.0,
    "codec": "h264",
    "pixel_format": "yuv420p",
}


def test_large_faststart_mp4_reads_under_1_mib(upload, media):
    meta, rf = _video(upload, media, "big_faststart.mp4")
    _check(meta, {**BIG_EXPECTED, "faststart": True})
    assert len(media["big_faststart.mp4"]) > 3 * MiB
    assert rf.bytes_read <= MiB and rf.requests <= 2  # header block + FFmpeg's first packet


def test_large_moov_at_end_mp4_needs_three_requests_at_most(upload, media):
    size = len(media["big_moov_end.mp4"])
    meta, rf = _video(upload, media, "big_moov_end.mp4")
    _check(meta, {**BIG_EXPECTED, "faststart": False})
    assert rf.requests <= 3  # first block, the tail with moov, the first packet (pixel format)
    assert rf.bytes_read <= MiB and rf.bytes_read < size / 10


def test_walker_fetches_a_moov_at_end_with_one_ranged_read(upload, media):
    data = media["big_moov_end.mp4"]
    rf = upload("walk.mp4", data)
    layout = walk_boxes(rf)
    assert [kind for kind, _, _ in layout.boxes] == ["ftyp", "free", "mdat", "moov"]
    assert (layout.major_brand, layout.minor_version) == ("isom", 512)
    assert layout.mdat_before_moov and layout.faststart is False and not layout.truncated
    assert rf.requests == 2  # the first block, then the tail (moov) in one request
    offset, size = layout.moov
    assert offset + size == len(data)
    rf.seek(offset)
    assert rf.read(size) == data[offset:] and rf.requests == 2  # moov is cached


def test_walker_prefetches_a_big_moov_in_one_request():
    """moov larger than the tail prefetch: header read near the end, then ONE moov read."""
    moov = _box(b"moov", 600_000)
    data = FTYP + _box(b"mdat", 3 * MiB, large=True) + moov
    storage = MemoryStorage(data)
    rf = RangeFile(storage, "big.mp4")
    layout = walk_boxes(rf)
    assert layout.moov == (len(data) - len(moov), len(moov))
    assert layout.boxes[1] == ("mdat", 24, 3 * MiB + 16)  # 64-bit largesize
    assert layout.major_brand == "mp42" and layout.compatible_brands == ["mp42", "isom"]
    assert rf.requests == 3 and storage.calls[2][0] + storage.calls[2][1] == len(data)
    assert rf.bytes_read < len(moov) + 3 * BLOCK


def test_walker_size_zero_box_runs_to_eof_and_stops_after_moov_and_mdat():
    data = FTYP + _box(b"moov", 100) + _box(b"free", 10) + _box(b"mdat", 200_000, to_eof=True)
    rf = RangeFile(MemoryStorage(data), "fast.mp4")
    layout = walk_boxes(rf)
    assert layout.boxes[-1] == ("mdat", 24 + 108 + 18, 200_008)
    assert layout.faststart is True and not layout.mdat_before_moov and rf.requests == 1


def test_walker_rejects_non_bmff():
    with pytest.raises(ProbeError, match="not an ISO-BMFF"):
        walk_boxes(RangeFile(MemoryStorage(b"RIFF" + bytes(100)), "x.mp4"))


# -- corrupt / truncated / mislabelled ------------------------------------------------------------


def test_truncated_moov_at_end_mp4(upload, media):
    data = media["big_moov_end.mp4"]
    rf = upload("cut.mp4", data[: len(data) // 2])
    with pytest.raises(ProbeError, match=r"^truncated: moov box missing"):
        probe_video(rf, hint="cut.mp4")
    assert rf.requests == 1  # the mdat header says it runs past the end: nothing else read


def test_truncated_faststart_mp4(upload, media):
    data = media["big_faststart.mp4"]
    with pytest.raises(ProbeError, match=r"^truncated:"):
        probe_video(upload("cut_fast.mp4", data[: len(data) // 2]))


def test_random_bytes_named_mp4(upload):
    rf = upload("noise.mp4", np.random.default_rng(1).bytes(50_000))
    with pytest.raises(ProbeError, match=r"^not a video container \("):
        probe_video(rf, hint="noise.mp4")
    with pytest.raises(ProbeError, match=r"^not an audio container \("):
        probe_audio(rf, hint="noise.mp4")


def test_zero_byte_object(upload):
    for probe in (probe_video, probe_audio):
        with pytest.raises(ProbeError, match=r"^empty object \(0 bytes\)"):
            probe(upload("empty.mp4", b""))


def test_wav_named_mp4(upload, media):
    rf = upload("speech.mp4", media["mono8k.wav"])
    with pytest.raises(ProbeError, match=r"^no video stream \(container wav\)"):
        probe_video(rf, hint="speech.mp4")
    meta = probe_audio(rf, hint="speech.mp4")
    assert (meta.codec, meta.sample_rate, meta.container) == ("pcm_s16le", 8000, "wav")


def test_video_without_audio_track(upload, media):
    with pytest.raises(ProbeError, match=r"^no audio stream"):
        probe_audio(upload("silent.mp4", media["moov_end.mp4"]))


# -- audio ----------------------------------------------------------------------------------------

AUDIO_CASES = {
    "mono8k.wav": {
        "duration": 1.5,
        "sample_rate": 8000,
        "num_channels": 1,
        "codec": "pcm_s16le",
        "bit_depth": 16,
        "bit_rate": 128_000,
        "container": "wav",
        "mime_type": "audio/wav",
    },
    "stereo24.wav": {
        "duration": 1.5,
        "sample_rate": 44100,
        "num_channels": 2,
        "codec": "pcm_s24le",
        "bit_depth": 24,
        "bit_rate": 44100 * 2 * 24,
        "container": "wav",
    },
    "tone.flac": {
        "duration": 1.5,
        "sample_rate": 22050,
        "num_channels": 1,
        "codec": "flac",
        "bit_depth": 16,
        "container": "flac",
        "mime_type": "audio/flac",
    },
    "tone24.flac": {
        "duration": 1.5,
        "sample_rate": 48000,
        "num_channels": 2,
        "codec": "flac",
        "bit_depth": 24,
    },
    "tone.mp3": {
        "duration": 1.5,
        "sample_rate": 22050,
        "num_channels": 1,
        "codec": "mp3",
        "bit_depth": None,
        "container": "mp3",
        "mime_type": "audio/mpeg",
    },
    "tone.ogg": {
        "duration": 1.5,
        "sample_rate": 48000,
        "num_channels": 1,
        "codec": "opus",
        "bit_depth": None,
        "container": "ogg",
        "mime_type": "audio/ogg",
    },
    "tone.m4a": {
        "duration": 1.5,
        "sample_rate": 16000,
        "num_channels": 1,
        "codec": "aac",
        "bit_depth": None,
        "container": "m4a",
        "mime_type": "audio/mp4",
    },
}


@pytest.mark.parametrize("key", list(AUDIO_CASES))
def test_audio_exact_metadata(upload, media, key):
    meta, rf = _audio(upload, media, key)
    _check(meta, dict(AUDIO_CASES[key]))
    assert meta.file_size == len(media[key]) and meta.bit_rate and meta.bit_rate > 0
    assert rf.requests <= 2 and rf.bytes_read <= 2 * BLOCK


@pytest.mark.parametrize(
    ("key", "duration", "max_requests"),
    [("long.mp3", 30.0, 1), ("long.ogg", 60.0, 2), ("long.m4a", 60.0, 2)],
)
def test_long_audio_reads_head_and_tail_only(upload, media, key, duration, max_requests):
    """mp3: Xing header in the first block; ogg: the last page; m4a: the moov at the end."""
    meta, rf = _audio(upload, media, key)
    assert meta.duration == pytest.approx(duration, abs=0.01)
    assert rf.requests <= max_requests
    assert rf.bytes_read <= 3 * BLOCK < len(media[key])
