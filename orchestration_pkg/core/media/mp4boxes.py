"""A tiny ISO-BMFF (mp4/mov/m4a) top-level box walker over a ``RangeFile``.

Written by hand because PyAV does not expose the box layout (where ``moov`` and ``mdat`` sit,
the ``ftyp`` brands). Only box headers are read: ``mdat`` (and every other body except the
small ``ftyp``) is jumped over by its size, so a moov-at-end file costs the first block plus
one ranged read near the end. Once ``moov`` is located it is prefetched in one request, so a
demuxer that parses it next finds it cached.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.media.rangefile import RangeFile

MAX_BOXES = 256
MAX_FTYP = 4096
TAIL_PREFETCH = 256 * 1024
"""After jumping over a big box (``mdat``), read the rest of the object in one request if it
is at most this long: the typical moov-at-end tail is just ``moov``, so the header read and
the moov prefetch become a single request."""

FIRST_BOXES = frozenset({"ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "styp"})

Box = tuple[str, int, int]


@dataclass(frozen=True)
class Mp4Layout:
    """What the top level of an ISO-BMFF file looks like."""

    major_brand: str | None
    minor_version: int | None
    compatible_brands: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    moov: tuple[int, int] | None = None
    mdat_before_moov: bool = False
    truncated: bool = False
    """A box (or a box header) runs past the end of the object."""

    @property
    def mdat(self) -> tuple[int, int] | None:
        """``(offset, size)`` of the first ``mdat``, if walked."""
        return next(((off, size) for kind, off, size in self.boxes if kind == "mdat"), None)

    @property
    def faststart(self) -> bool | None:
        """``moov`` before ``mdat``; None when either is missing."""
        mdat = self.mdat
        if self.moov is None or mdat is None:
            return None
        return self.moov[0] < mdat[0]


def is_bmff(head: bytes) -> bool:
    """Whether the first bytes look like an ISO-BMFF box header (``....ftyp`` and the like)."""
    return len(head) >= 8 and head[4:8].decode("latin-1") in FIRST_BOXES - {"uuid", "free"}


def walk_boxes(rf: RangeFile, *, prefetch_moov: bool = True) -> Mp4Layout:
    """Walk the top-level boxes of ``rf`` until both ``moov`` and ``mdat`` are seen (or EOF).

    Raises ``ProbeError`` when the object does not start like an ISO-BMFF file.
    """
    size = rf.size
    boxes, end = _walk(rf, size, prefetch_moov)
    if not boxes or boxes[0][0] not in FIRST_BOXES:
        raise ProbeError("not an ISO-BMFF file (no ftyp/moov/mdat box at the start)")
    truncated = any(off + sz > size for _, off, sz in boxes) or 0 < size - end < 8
    return _layout(rf, boxes, truncated)


def _walk(rf: RangeFile, size: int, prefetch_moov: bool) -> tuple[list[Box], int]:
    """The boxes walked and the offset the walk stopped at."""
    boxes: list[Box] = []
    offset = 0
    while offset + 8 <= size and len(boxes) < MAX_BOXES:
        header = _read_header(rf, offset, size)
        if header is None:
            break  # a malformed box: stop walking, keep what we have
        kind, box_size = header
        boxes.append((kind, offset, box_size))
        if kind == "moov" and prefetch_moov:
            _prefetch(rf, offset, box_size)
        if _seen(boxes, "moov") and _seen(boxes, "mdat"):
            break
        offset += box_size
        if box_size > rf.block_size:  # jumped beyond what the last read brought in
            _maybe_prefetch_tail(rf, offset, size)
    return boxes, offset


def _read_header(rf: RangeFile, offset: int, size: int) -> tuple[str, int] | None:
    """``(type, box size)`` of the box at ``offset``; None if malformed."""
    rf.seek(offset)
    raw = rf.read(16)
    if len(raw) < 8:
        return None
    box_size, kind_raw = struct.unpack(">I4s", raw[:8])
    if not all(32 <= b < 127 for b in kind_raw):
        return None
    kind = kind_raw.decode("latin-1")
    header_len = 8
    if box_size == 1:
        if len(raw) < 16:
            return None
        (box_size,) = struct.unpack(">Q", raw[8:16])
        header_len = 16
    elif box_size == 0:
        box_size = size - offset
    if box_size < header_len:
        return None
    return kind, box_size


def _seen(boxes: list[Box], kind: str) -> bool:
    return any(k == kind for k, _, _ in boxes)


def _prefetch(rf: RangeFile, offset: int, length: int) -> None:
    """Prefetch a box in one request, capped to half the cache.

    A read larger than the cache would evict its own first blocks (and ``RangeFile`` then
    returns shifted bytes), so a huge ``moov`` is only partly prefetched.
    """
    capacity = rf.max_blocks * rf.block_size
    rf.prefetch(offset, min(length, capacity // 2))


def _maybe_prefetch_tail(rf: RangeFile, offset: int, size: int) -> None:
    """Fetch ``[offset, EOF)`` in one request when short (the moov of a moov-at-end file)."""
    if offset < size and size - offset <= TAIL_PREFETCH:
        rf.prefetch(offset, size - offset)


def _layout(rf: RangeFile, boxes: list[Box], truncated: bool) -> Mp4Layout:
    moov = next(((off, sz) for kind, off, sz in boxes if kind == "moov"), None)
    mdat = next((off for kind, off, _ in boxes if kind == "mdat"), None)
    major, minor, compatible = _ftyp(rf, boxes)
    return Mp4Layout(
        major_brand=major,
        minor_version=minor,
        compatible_brands=compatible,
        boxes=boxes,
        moov=moov,
        mdat_before_moov=mdat is not None and (moov is None or mdat < moov[0]),
        truncated=truncated,
    )


def _ftyp(rf: RangeFile, boxes: list[Box]) -> tuple[str | None, int | None, list[str]]:
    """Brands of the ``ftyp`` box (major, minor version, compatible), if there is one."""
    ftyp = next(((off, sz) for kind, off, sz in boxes if kind == "ftyp"), None)
    if ftyp is None or ftyp[1] < 16:
        return None, None, []
    rf.seek(ftyp[0] + 8)
    body = rf.read(min(ftyp[1], MAX_FTYP) - 8)
    if len(body) < 8:
        return None, None, []
    major = _brand(body[:4])
    (minor,) = struct.unpack(">I", body[4:8])
    compatible = [_brand(body[i : i + 4]) for i in range(8, len(body) - 3, 4)]
    return major, minor, [b for b in compatible if b.strip("\x00")]


def _brand(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip(" \x00") or raw.decode("latin-1")
