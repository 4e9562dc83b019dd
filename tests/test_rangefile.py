"""RangeFile: a seekable file over ranged reads, with a block cache and request accounting."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.s3.storage import S3Storage
from orchestration_pkg.core.storage import RangeRead


class MemoryStorage:
    """Bytes in memory behind ``read_range``; records every (start, length) asked."""

    name, provider = "mem", "memory"

    def __init__(self, data: bytes) -> None:
        self.data, self.calls = data, []

    def canonical_url(self, key: str) -> str:
        return f"mem://{key}"

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        self.calls.append((start, length))
        chunk = self.data[start : start + length]
        return RangeRead(chunk, ObjectInfo(key=key, size=len(self.data), etag="e"))


DATA = os.urandom(300_000)


def test_reads_match_the_object_anywhere():
    rf = RangeFile(MemoryStorage(DATA), "k", block_size=4096)
    for pos, n in [(0, 10), (5000, 70_000), (299_990, 100), (123_456, 1), (0, 300_000)]:
        rf.seek(pos)
        assert rf.read(n) == DATA[pos : pos + n]
    rf.seek(-5, io.SEEK_END)
    assert rf.read() == DATA[-5:] and rf.read(10) == b""
    assert rf.size == len(DATA) and rf.info.etag == "e"


def test_cached_blocks_are_not_fetched_twice_and_runs_are_coalesced():
    mem = MemoryStorage(DATA)
    rf = RangeFile(mem, "k", block_size=4096, min_fetch=4096)
    rf.seek(8192)
    rf.read(3 * 4096)  # one request for three missing blocks
    rf.seek(8192)
    rf.read(3 * 4096)  # all cached
    assert len(mem.calls) == 2  # the size-learning first read + one coalesced run
    assert rf.bytes_read == sum(n for _, n in mem.calls)


def test_prefetch_and_prime_avoid_requests():
    mem = MemoryStorage(DATA)
    rf = RangeFile(mem, "k", size=len(DATA), block_size=4096)
    rf.prime(0, DATA[:10_000])
    assert rf.read(10_000) == DATA[:10_000] and mem.calls == []
    rf.prefetch(200_000, 50_000)
    assert len(mem.calls) == 1
    rf.seek(200_000)
    assert rf.read(50_000) == DATA[200_000:250_000] and len(mem.calls) == 1


def test_read_limit_stops_runaway_probes():
    rf = RangeFile(MemoryStorage(DATA), "k", size=len(DATA), max_bytes=100_000)
    with pytest.raises(StorageError, match="more than 100000 bytes"):
        rf.read()


def test_pillow_reads_only_the_header_from_s3(s3_bucket, s3_config_factory):
    buf = io.BytesIO()
    Image.effect_noise((1500, 1000), 64).convert("RGB").save(buf, "PNG")
    s3_bucket.put("big.png", buf.getvalue(), "image/png")
    rf = RangeFile(S3Storage(s3_config_factory()), "big.png", block_size=16 * 1024)
    with Image.open(rf) as img:
        assert img.size == (1500, 1000)
    assert rf.requests == 1 and rf.bytes_read <= 16 * 1024 < len(buf.getvalue())


def test_a_read_larger_than_the_cache_returns_the_right_bytes():
    mem = MemoryStorage(DATA)
    rf = RangeFile(mem, "k", size=len(DATA), block_size=4096, max_blocks=4)
    assert rf.read(6 * 4096) == DATA[: 6 * 4096]
    rf.seek(100)
    assert rf.read(3000) == DATA[100:3100]


def test_a_full_cache_never_returns_misplaced_bytes():
    rf = RangeFile(MemoryStorage(DATA), "k", size=len(DATA), block_size=4096, max_blocks=4)
    for block in (0, 2, 3, 4):
        rf.seek(block * 4096)
        rf.read(1)
    rf.seek(4000)
    assert rf.read(200) == DATA[4000:4200]


def test_min_fetch_does_not_download_cached_blocks_again():
    mem = MemoryStorage(DATA)
    rf = RangeFile(mem, "k", size=len(DATA), block_size=4096, min_fetch=16384)
    rf.seek(12288)
    rf.read(10)
    rf.seek(8192)
    rf.read(10)
    assert mem.calls == [(12288, 16384), (8192, 4096)]
