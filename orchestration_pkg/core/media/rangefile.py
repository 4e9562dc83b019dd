"""A seekable, read-only file object over a remote object, read with ranged GETs.

Pillow, PyAV and pypdf want a local file; this gives them one without downloading the object:
reads are served from a block cache, missing blocks are fetched with one ranged GET per
contiguous run (at least ``min_fetch`` bytes, so small sequential reads become few requests),
and every request and byte is counted. Written by hand because no library offers a seekable
file object over an arbitrary ``read_range(key, start, length)`` with request accounting.
"""

from __future__ import annotations

import io
from collections import OrderedDict

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import RangeRead, Storage

DEFAULT_BLOCK = 64 * 1024


class RangeFile(io.RawIOBase):
    """``storage``/``key`` as a seekable binary file; ``size`` is learnt from the first read."""

    def __init__(
        self,
        storage: Storage,
        key: str,
        *,
        size: int | None = None,
        block_size: int = DEFAULT_BLOCK,
        max_blocks: int = 256,
        min_fetch: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self.storage, self.key = storage, key
        self.block_size = block_size
        self.max_blocks = max_blocks
        self.min_fetch = min_fetch or block_size
        self.max_bytes = max_bytes
        self.bytes_read = 0
        self.requests = 0
        self.info: ObjectInfo | None = None
        self._size = size
        self._pos = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    # -- accounting and priming -------------------------------------------------------------

    @property
    def size(self) -> int:
        if self._size is None:
            self._fetch(0, self.min_fetch)
        assert self._size is not None
        return self._size

    def prime(self, offset: int, data: bytes) -> None:
        """Add bytes already read elsewhere (e.g. a header probe) to the cache."""
        self._store(offset, data)
        self._evict()

    def prefetch(self, offset: int, length: int) -> None:
        """Fetch ``[offset, offset+length)`` now in as few requests as possible."""
        end = min(offset + length, self.size)
        for start, stop in self._missing_runs(offset, end):
            self._fetch(start, stop - start)
        self._evict()

    def adopt(self, first: RangeRead, offset: int = 0) -> None:
        """Use a ranged read already made (its bytes and what it said about the object)."""
        self.info = first.info
        if first.info.size is not None:
            self._size = first.info.size
        self._store(offset, first.data)

    # -- io.RawIOBase -------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if want == 0 or self._pos >= self.size:
            return 0
        end = min(self._pos + want, self.size)
        if end - self._pos > self.block_size * self.max_blocks // 2:
            data = self._read_uncached(self._pos, end)  # larger than the cache could hold
            buffer[: len(data)] = data
            self._pos += len(data)
            return len(data)
        for start, stop in self._missing_runs(self._pos, end):
            self._fetch(start, self._extended(start, stop) - start)
        data = self._slice(self._pos, end)
        self._evict()  # only now: the blocks this read needed were all still there
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _extended(self, start: int, stop: int) -> int:
        """End of a fetch for the run ``[start, stop)``: at least ``min_fetch`` bytes, but
        never over blocks that are already cached."""
        want = max(stop, start + self.min_fetch)
        bs = self.block_size
        index = stop // bs
        while index * bs < want:
            if len(self._blocks.get(index, b"")) >= self._block_len(index) > 0:
                return max(stop, index * bs)
            index += 1
        return want

    # -- internals ------------------------------------------------------------------------------

    def _missing_runs(self, start: int, end: int) -> list[tuple[int, int]]:
        """Byte ranges (block-aligned) of ``[start, end)`` that are not cached."""
        bs = self.block_size
        runs: list[tuple[int, int]] = []
        for index in range(start // bs, (end - 1) // bs + 1):
            needed = min(end, (index + 1) * bs) - index * bs  # bytes of this block we need
            if len(self._blocks.get(index, b"")) >= min(needed, self._block_len(index)):
                continue
            lo, hi = index * bs, (index + 1) * bs
            if runs and runs[-1][1] == lo:
                runs[-1] = (runs[-1][0], hi)
            else:
                runs.append((lo, hi))
        return runs

    def _block_len(self, index: int) -> int:
        if self._size is None:
            return self.block_size
        return max(0, min(self.block_size, self._size - index * self.block_size))

    def _fetch(self, start: int, length: int) -> None:
        if self._size is not None:
            length = min(length, self._size - start)
            if length <= 0:
                return
        self._check_budget(length)
        result = self.storage.read_range(self.key, start, length)
        self.requests += 1
        self.bytes_read += len(result.data)
        if self.info is None:
            self.info = result.info
        if result.info.size is not None:
            self._size = result.info.size
        elif len(result.data) < length:
            self._size = start + len(result.data)
        self._store(start, result.data)

    def _read_uncached(self, start: int, end: int) -> bytes:
        """One ranged read for a span bigger than the cache (nothing is evicted for it)."""
        self._check_budget(end - start)
        result = self.storage.read_range(self.key, start, end - start)
        self.requests += 1
        self.bytes_read += len(result.data)
        return result.data

    def _check_budget(self, length: int) -> None:
        if self.max_bytes is not None and self.bytes_read + length > self.max_bytes:
            raise StorageError(
                f"{self.storage.canonical_url(self.key)}: probing would read more than "
                f"{self.max_bytes} bytes",
                code="ReadLimit",
            )

    def _store(self, offset: int, data: bytes) -> None:
        bs = self.block_size
        pos = offset
        end = offset + len(data)
        while pos < end:
            index = pos // bs
            block_start = index * bs
            block = bytearray(self._blocks.get(index, b""))
            inner = pos - block_start
            if len(block) < inner:  # a gap inside the block: only keep contiguous bytes
                block = bytearray()
                if inner:
                    pos = block_start + bs
                    continue
            take = min(end, block_start + bs) - pos
            block[inner : inner + take] = data[pos - offset : pos - offset + take]
            self._blocks[index] = bytes(block)
            self._blocks.move_to_end(index)
            pos += take

    def _evict(self) -> None:
        """Drop the least recently used blocks beyond ``max_blocks``."""
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)

    def _slice(self, start: int, end: int) -> bytes:
        bs = self.block_size
        out = bytearray()
        for index in range(start // bs, (end - 1) // bs + 1):
            block = self._blocks.get(index, b"")
            lo = max(start, index * bs) - index * bs
            hi = min(end, (index + 1) * bs) - index * bs
            out += block[lo:hi]
        return bytes(out)
