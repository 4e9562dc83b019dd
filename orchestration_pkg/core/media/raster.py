"""GeoTIFF / COG metadata from the IFD headers only (classic TIFF and BigTIFF).

The IFDs are parsed by hand with ``struct`` rather than through Pillow's TIFF plugin because
for rasters Pillow is the wrong tool: it refuses many GeoTIFF sample layouts ("unknown pixel
mode" for e.g. 4-band 8-bit with unspecified extra samples, 5+ bands, complex data), it loads
every tag's value (the full TileOffsets/TileByteCounts arrays: hundreds of KiB on a large COG)
for every IFD its ``n_frames`` walks, and it applies the decompression-bomb check, which a
100 000 x 100 000 raster rightly fails although nothing is ever decoded. Here each IFD costs its
entry table; out-of-line values are read only for the few tags needed (at most one element of
the offset arrays). Pillow's own TIFF layout table still names the pixel mode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from PIL import TiffImagePlugin

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.media.models import RasterMetadata
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.media.sniff import GEO_TAGS, TiffHeader, mime_for, tiff_header

MAX_IFDS = 64
MAX_ENTRIES = 4096
MAX_VALUES = 65536

NEW_SUBFILE_TYPE, IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE = 254, 256, 257, 258
PHOTOMETRIC, FILL_ORDER, STRIP_OFFSETS, SAMPLES_PER_PIXEL = 262, 266, 273, 277
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, EXTRA_SAMPLES, SAMPLE_FORMAT = 322, 323, 324, 338, 339
GEO_KEY_DIRECTORY = 34735
PROJECTED_CRS_KEY, GEOGRAPHIC_CRS_KEY = 3072, 2048
USER_DEFINED = 32767
MASK_BIT = 4

# TIFF field type -> struct code (ASCII/UNDEFINED/RATIONAL are not needed here)
_TYPES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 11: "f", 12: "d", 16: "Q", 17: "q"}
_TYPES[13] = "I"  # IFD
_TYPES[18] = "Q"  # IFD8
_SAMPLE_KINDS = {1: "uint", 2: "int", 3: "float", 5: "complex_int", 6: "complex"}


@dataclass(frozen=True)
class Entry:
    """One IFD entry: tag, field type, value count and the raw value/offset field."""

    tag: int
    type: int
    count: int
    raw: bytes


@dataclass(frozen=True)
class Ifd:
    """An image file directory: where it is, where its entry table ends, its entries."""

    offset: int
    end: int
    entries: dict[int, Entry]
    next: int


def read_at(rf: RangeFile, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` (fewer at the end of the object)."""
    rf.seek(offset)
    out = bytearray()
    while len(out) < length:
        chunk = rf.read(length - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def probe_raster(rf: RangeFile) -> RasterMetadata:
    """Size, bands, dtype, tiling, overviews, EPSG and COG layout of a (Geo)TIFF."""
    layout = _header(rf)
    ifds = walk_ifds(rf, layout)
    main = ifds[0]
    width, height = _int(rf, layout, main, IMAGE_WIDTH), _int(rf, layout, main, IMAGE_LENGTH)
    if not width or not height:
        raise ProbeError("corrupt TIFF: the first IFD has no image width/length")
    bands = _int(rf, layout, main, SAMPLES_PER_PIXEL) or 1
    bits = values(rf, layout, main.entries.get(BITS_PER_SAMPLE), limit=bands) or (1,)
    formats = values(rf, layout, main.entries.get(SAMPLE_FORMAT), limit=bands) or (1,)
    tile_w, tile_h = _int(rf, layout, main, TILE_WIDTH), _int(rf, layout, main, TILE_LENGTH)
    return RasterMetadata(
        mime_type=mime_for("tiff"),
        file_size=rf.size,
        width=width,
        height=height,
        display_width=width,
        display_height=height,
        format="tiff",
        mode=_mode(rf, layout, main, bits, formats),
        bands=bands,
        dtype=dtype(bits, formats),
        tile_width=tile_w,
        tile_height=tile_h,
        overview_count=sum(1 for ifd in ifds[1:] if not _subfile(rf, layout, ifd) & MASK_BIT),
        crs_epsg=crs_epsg(values(rf, layout, main.entries.get(GEO_KEY_DIRECTORY))),
        cloud_optimized=bool(tile_w) and _ifds_before_data(rf, layout, ifds),
    )


def is_geotiff(rf: RangeFile) -> bool:
    """Whether ``rf`` is a TIFF whose first IFD carries GeoTIFF tags (reads that IFD only)."""
    layout = tiff_header(read_at(rf, 0, 16))
    if layout is None:
        return False
    try:
        return bool(read_ifd(rf, layout, layout.first_ifd).entries.keys() & GEO_TAGS)
    except ProbeError:
        return False


def _header(rf: RangeFile) -> TiffHeader:
    if rf.size == 0:
        raise ProbeError("zero-byte object is not a TIFF")
    head = read_at(rf, 0, 16)
    layout = tiff_header(head)
    if layout is None:
        raise ProbeError("not a TIFF file (no II*/MM* header)")
    return layout


def walk_ifds(rf: RangeFile, layout: TiffHeader) -> list[Ifd]:
    """Every IFD of the main chain (at most ``MAX_IFDS``), entry tables only."""
    ifds: list[Ifd] = []
    seen: set[int] = set()
    offset = layout.first_ifd
    while offset and offset not in seen and len(ifds) < MAX_IFDS:
        seen.add(offset)
        try:
            ifds.append(read_ifd(rf, layout, offset))
        except ProbeError:
            if not ifds:
                raise
            break  # a broken overview chain: keep the image, count what was readable
        offset = ifds[-1].next
    return ifds


def read_ifd(rf: RangeFile, layout: TiffHeader, offset: int) -> Ifd:
    """The IFD at ``offset``: its entry count, entries and next-IFD pointer."""
    count_size = struct.calcsize(layout.count_fmt)
    raw = read_at(rf, offset, count_size)
    if len(raw) < count_size:
        raise ProbeError(f"truncated TIFF: IFD offset {offset} is past the end of the file")
    (count,) = struct.unpack(layout.count_fmt, raw)
    if not 0 < count <= MAX_ENTRIES:
        raise ProbeError(f"corrupt TIFF: IFD at {offset} claims {count} entries")
    next_size = struct.calcsize(layout.offset_fmt)
    table_len = count * layout.entry_size + next_size
    table = read_at(rf, offset + count_size, table_len)
    if len(table) < table_len:
        raise ProbeError(f"truncated TIFF: the IFD at {offset} runs past the end of the file")
    entries = dict(_entries(table, count, layout))
    (nxt,) = struct.unpack_from(layout.offset_fmt, table, count * layout.entry_size)
    return Ifd(offset, offset + count_size + table_len, entries, nxt)


def _entries(table: bytes, count: int, layout: TiffHeader) -> list[tuple[int, Entry]]:
    head_fmt = layout.endian + ("HHQ" if layout.bigtiff else "HHI")
    head_len = struct.calcsize(head_fmt)
    out = []
    for i in range(count):
        pos = i * layout.entry_size
        tag, kind, n = struct.unpack_from(head_fmt, table, pos)
        out.append((tag, Entry(tag, kind, n, table[pos + head_len : pos + layout.entry_size])))
    return out


def values(
    rf: RangeFile, layout: TiffHeader, entry: Entry | None, *, limit: int = MAX_VALUES
) -> tuple[int | float, ...]:
    """The first ``limit`` numeric values of ``entry`` (out-of-line values are read)."""
    code = _TYPES.get(entry.type) if entry else None
    if entry is None or code is None or entry.count == 0:
        return ()
    n = min(entry.count, limit, MAX_VALUES)
    item = struct.calcsize(code)
    if item * entry.count <= len(entry.raw):
        data = entry.raw
    else:
        (where,) = struct.unpack(layout.offset_fmt, entry.raw)
        data = read_at(rf, where, item * n)
        if len(data) < item * n:
            raise ProbeError(f"truncated TIFF: the values of tag {entry.tag} are past the end")
    return struct.unpack_from(f"{layout.endian}{n}{code}", data)


def _int(rf: RangeFile, layout: TiffHeader, ifd: Ifd, tag: int) -> int | None:
    found = values(rf, layout, ifd.entries.get(tag), limit=1)
    return int(found[0]) if found else None


def _subfile(rf: RangeFile, layout: TiffHeader, ifd: Ifd) -> int:
    return _int(rf, layout, ifd, NEW_SUBFILE_TYPE) or 0


def dtype(bits: tuple[int | float, ...], formats: tuple[int | float, ...]) -> str | None:
    """numpy-style sample type (``uint8``, ``int16``, ``float32``); None when bands differ."""
    if len(set(bits)) != 1 or len(set(formats)) != 1:
        return None
    kind = _SAMPLE_KINDS.get(int(formats[0]))
    return f"{kind}{int(bits[0])}" if kind else None


def crs_epsg(keys: tuple[int | float, ...]) -> int | None:
    """EPSG code of the GeoKeyDirectory: ProjectedCSType, else GeographicType."""
    if len(keys) < 4:
        return None
    found: dict[int, int] = {}
    for i in range(int(keys[3])):
        key = keys[4 + 4 * i : 8 + 4 * i]
        if len(key) < 4:
            break
        key_id, location, _count, value = (int(v) for v in key)
        if location == 0 and key_id in (PROJECTED_CRS_KEY, GEOGRAPHIC_CRS_KEY):
            found[key_id] = value
    code = found.get(PROJECTED_CRS_KEY, found.get(GEOGRAPHIC_CRS_KEY))
    return code if code and code != USER_DEFINED else None  # user-defined: no EPSG code


def _mode(
    rf: RangeFile,
    layout: TiffHeader,
    ifd: Ifd,
    bits: tuple[int | float, ...],
    formats: tuple[int | float, ...],
) -> str | None:
    """Pillow's name for the layout (from its TIFF table), None if Pillow has none."""
    photometric = _int(rf, layout, ifd, PHOTOMETRIC) or 0
    fill = _int(rf, layout, ifd, FILL_ORDER) or 1
    extra = tuple(int(v) for v in values(rf, layout, ifd.entries.get(EXTRA_SAMPLES), limit=16))
    fmt = (int(formats[0]),) if len(set(formats)) == 1 else tuple(int(f) for f in formats)
    order = b"II" if layout.endian == "<" else b"MM"
    key = (order, photometric, fmt, fill, tuple(int(b) for b in bits), extra)
    info = TiffImagePlugin.OPEN_INFO.get(key)
    return info[0] if info else None


def _ifds_before_data(rf: RangeFile, layout: TiffHeader, ifds: list[Ifd]) -> bool:
    """COG layout: every IFD ends before the first tile/strip of any IFD starts."""
    starts = []
    for ifd in ifds:
        entry = ifd.entries.get(TILE_OFFSETS) or ifd.entries.get(STRIP_OFFSETS)
        first = values(rf, layout, entry, limit=1)
        if first:
            starts.append(int(first[0]))
    return bool(starts) and max(ifd.end for ifd in ifds) <= min(starts)
