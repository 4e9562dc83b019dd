"""Image metadata from the header bytes only, read through a ``RangeFile``.

Pillow parses most formats straight from the RangeFile: ``Image.open`` reads only up to the
first pixel data (JPEG: to the start of scan, PNG: to the first IDAT, GIF/BMP/TIFF: the header
and first descriptor), and the RangeFile fetches exactly the blocks touched, so with a 16 KiB
block size an ordinary image costs one 16 KiB request. Measured against the older growing-bytes
probe (16 KiB, 64 KiB, 256 KiB, ... each step re-parsed): equal for ordinary JPEG/PNG/BMP/TIFF
(16 KiB, 1 request), fewer bytes for big headers (a JPEG with 180 KB of ICC + EXIF: 192 KiB in
6 requests, one per APP segment, instead of 256 KiB in 3), and far fewer for WebP/AVIF (below).

WebP and AVIF are parsed by hand: Pillow's plugins hand the *whole file* to libwebp/libavif
(``fp.read()``). Their containers (RIFF chunks, ISO-BMFF ``meta`` box) carry the size near the
start. HEIC/HEIF share AVIF's item structure and are read the same way.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable, Iterator

from PIL import Image, UnidentifiedImageError

from orchestration_pkg.core.errors import ProbeError, StorageError
from orchestration_pkg.core.media.models import ImageMetadata
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.media.raster import is_geotiff, probe_raster, read_at
from orchestration_pkg.core.media.sniff import is_text, mime_for, sniff_magic

IMAGE_BLOCK = 16 * 1024
"""Suggested ``RangeFile`` block size for image probing (most headers fit in one block)."""

FRAME_SCAN_BYTES = 64 * 1024
"""Frames are counted only if that reads at most this many more bytes (GIF: whole file)."""

MAX_META_BOX = 1024 * 1024
MAX_EXIF = 256 * 1024
EXIF_ORIENTATION = 0x0112
HEAD = 4096
# What Pillow raises for malformed headers (TypeError/IndexError/KeyError too, e.g. a TIFF
# page without dimensions, found by fuzzing the probers).
_PARSE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    TypeError,
    IndexError,
    KeyError,
)
_PILLOW_FORMATS = {"MPO": "jpeg"}

Header = tuple[str, tuple[int, int], str, int | None, int | None]
"""format, (width, height), mode, orientation, frames: what a hand-written parser found."""


def probe_image_file(rf: RangeFile) -> ImageMetadata:
    """Width, height, format, mode, EXIF orientation and frame count, from the header only."""
    if rf.size == 0:
        raise ProbeError("zero-byte object is not an image")
    head = read_at(rf, 0, HEAD)
    found = sniff_magic(head)
    kind, fmt = (found.kind, found.format) if found else ("unknown", "")
    if kind not in ("image", "raster", "unknown"):
        raise ProbeError(f"not an image: the content is {fmt} ({kind})")
    if fmt == "tiff" and (kind == "raster" or is_geotiff(rf)):
        return probe_raster(rf)  # GeoTIFF tags found (perhaps beyond the sniffed head)
    if fmt == "webp":
        return _finish(rf, *_webp(rf, head))
    if fmt in ("avif", "heic", "heif"):
        return _finish(rf, *_heif_family(rf, fmt))
    return _with_pillow(rf, fmt, head)


def _finish(
    rf: RangeFile,
    fmt: str,
    size: tuple[int, int],
    mode: str | None,
    orientation: int | None,
    frames: int | None,
) -> ImageMetadata:
    """The metadata, refusing decompression bombs; display size follows the orientation."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ProbeError(f"corrupt {fmt.upper()} header: size {width}x{height}")
    check_pixels(width, height)
    turned = orientation in (5, 6, 7, 8)
    return ImageMetadata(
        mime_type=mime_for(fmt),
        file_size=rf.size,
        width=width,
        height=height,
        format=fmt,
        mode=mode,
        orientation=orientation,
        display_width=height if turned else width,
        display_height=width if turned else height,
        frames=frames,
    )


def check_pixels(width: int, height: int) -> None:
    """``ProbeError`` for images above Pillow's ``MAX_IMAGE_PIXELS`` (never decoded)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise ProbeError(
            f"refused: {width}x{height} = {width * height} pixels exceeds the limit of {limit} "
            "(possible decompression bomb)"
        )


# -- Pillow ------------------------------------------------------------------------------------


def _with_pillow(rf: RangeFile, fmt: str, head: bytes) -> ImageMetadata:
    img = _open(rf, fmt, head)
    with img:
        name = _PILLOW_FORMATS.get(img.format or "", (img.format or fmt).lower())
        size, mode, orientation = img.size, img.mode, _orientation(img)
        frames = _frames(rf, img)
    if img.format == "TIFF" and orientation in (5, 6, 7, 8):
        size = size[::-1]  # Pillow already reports TIFF sizes rotated; keep the stored size
    return _finish(rf, name, size, mode, orientation, frames)


def _frames(rf: RangeFile, img: Image.Image) -> int | None:
    """``n_frames`` when cheap: GIF counts by reading every frame, so only small GIFs."""
    if img.format == "GIF" and rf.size > rf.bytes_read + FRAME_SCAN_BYTES:
        return None
    return count_frames(rf, lambda: getattr(img, "n_frames", 1))


def _open(rf: RangeFile, fmt: str, head: bytes) -> Image.Image:
    """``Image.open`` over the RangeFile; bombs and unreadable headers become ProbeError."""
    rf.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(rf)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ProbeError(f"refused: {exc}") from None
        except _PARSE_ERRORS as exc:
            raise ProbeError(_unreadable(fmt, head, exc)) from None


def _unreadable(fmt: str, head: bytes, exc: Exception) -> str:
    if fmt:
        return f"corrupt or truncated {fmt.upper()} header ({type(exc).__name__}: {exc})"
    if is_text(head):
        return "not an image: the content is text"
    return "not a recognised image format"


def _orientation(img: Image.Image) -> int | None:
    """EXIF orientation (1–8) from header data only; never triggers a pixel load."""
    if img.format == "TIFF":
        return _valid(getattr(img, "tag_v2", {}).get(EXIF_ORIENTATION))
    raw = img.info.get("exif")  # JPEG APP1; PNG eXIf before IDAT (getexif() would load pixels)
    return exif_orientation(raw) if isinstance(raw, bytes) else None


def exif_orientation(raw: bytes) -> int | None:
    """Orientation tag of a raw EXIF block (with or without the ``Exif\\0\\0`` prefix)."""
    exif = Image.Exif()
    try:
        exif.load(raw)
        return _valid(exif.get(EXIF_ORIENTATION))
    except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
        return None


def _valid(value: object) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def count_frames(rf: RangeFile, count: Callable[[], int]) -> int | None:
    """Run ``count()`` with a read cap of ``FRAME_SCAN_BYTES`` more; None if it needs more."""
    saved = rf.max_bytes
    cap = rf.bytes_read + FRAME_SCAN_BYTES
    rf.max_bytes = cap if saved is None else min(saved, cap)
    try:
        return int(count())
    except StorageError as exc:
        if exc.code != "ReadLimit":
            raise
        return None
    except _PARSE_ERRORS:
        return None
    finally:
        rf.max_bytes = saved


# -- WebP (RIFF chunks) ------------------------------------------------------------------------


def _webp(rf: RangeFile, head: bytes) -> Header:
    """Size and mode from the first chunk; frames and EXIF from the chunk headers."""
    if len(head) < 30:
        raise ProbeError("truncated WEBP header")
    fourcc, payload = head[12:16], head[20:30]
    if fourcc == b"VP8X":
        flags = payload[0]
        size = (_u24(payload[4:7]) + 1, _u24(payload[7:10]) + 1)
        mode = "RGBA" if flags & 0x10 else "RGB"
        frames, orientation = 1, None
        if flags & 0x0A:  # animation or EXIF: walk the chunk headers (within budget)
            frames, orientation = _webp_extras(rf, animated=bool(flags & 0x02))
        return "webp", size, mode, orientation, frames
    if fourcc == b"VP8 " and payload[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", payload, 6)
        return "webp", (width & 0x3FFF, height & 0x3FFF), "RGB", None, 1
    if fourcc == b"VP8L" and payload[0] == 0x2F:
        (bits,) = struct.unpack_from("<I", payload, 1)
        size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        return "webp", size, "RGBA" if bits >> 28 & 1 else "RGB", None, 1
    raise ProbeError(f"corrupt WEBP header (first chunk {fourcc!r})")


def _u24(raw: bytes) -> int:
    return raw[0] | raw[1] << 8 | raw[2] << 16


def _webp_extras(rf: RangeFile, *, animated: bool) -> tuple[int | None, int | None]:
    """Frame count (ANMF chunks; None if over budget) and EXIF orientation."""
    chunks: list[tuple[bytes, int, int]] = []
    complete = count_frames(rf, lambda: _collect(chunks, _chunks(rf))) is not None
    frames = sum(1 for fourcc, _, _ in chunks if fourcc == b"ANMF")
    exif = next((c for c in chunks if c[0] == b"EXIF" and c[2] <= MAX_EXIF), None)
    orientation = exif_orientation(read_at(rf, exif[1], exif[2])) if exif else None
    if not animated:
        return 1, orientation
    return (frames or None) if complete else None, orientation


def _collect(out: list[tuple[bytes, int, int]], chunks: Iterator[tuple[bytes, int, int]]) -> int:
    out.extend(chunks)
    return len(out)


def _chunks(rf: RangeFile) -> Iterator[tuple[bytes, int, int]]:
    """``(fourcc, payload offset, payload length)`` of every top-level RIFF chunk."""
    end = min(rf.size, struct.unpack("<I", read_at(rf, 4, 4))[0] + 8)
    offset = 12
    while offset + 8 <= end:
        header = read_at(rf, offset, 8)
        if len(header) < 8:
            return
        (length,) = struct.unpack_from("<I", header, 4)
        yield header[:4], offset + 8, length
        offset += 8 + length + (length & 1)


# -- HEIF family: AVIF, HEIC (ISO-BMFF meta box) -------------------------------------------------


def _heif_family(rf: RangeFile, fmt: str) -> Header:
    """Size from the primary item's ``ispe``; rotation from ``irot``; alpha from ``auxC``.
    AVIF and HEIC share the HEIF item structure, so no codec library is needed to read it."""
    name = fmt.upper()
    meta = _find_box(rf, b"meta")
    if meta is None:
        raise ProbeError(f"corrupt {name}: no meta box near the start")
    boxes = dict(_boxes(meta, 4))  # meta is a full box: skip version/flags
    props = [(kind, body) for kind, body in _boxes(boxes.get(b"iprp", b""), 0)]
    ipco = list(_boxes(dict(props).get(b"ipco", b""), 0))
    primary = _primary_item(boxes.get(b"pitm", b""))
    indexes = _associations(dict(props).get(b"ipma", b""), primary)
    chosen = [ipco[i - 1] for i in indexes if 0 < i <= len(ipco)] or ipco
    ispe = next((body for kind, body in chosen if kind == b"ispe"), None)
    if ispe is None or len(ispe) < 12:
        raise ProbeError(f"corrupt {name}: no image size (ispe) for the primary item")
    size = struct.unpack_from(">II", ispe, 4)
    clap = next((body for kind, body in chosen if kind == b"clap"), b"")
    if len(clap) >= 16:  # clean aperture: the coded size is cropped to this (e.g. x265 pads)
        wn, wd, hn, hd = struct.unpack_from(">IIII", clap, 0)
        if wd and hd:
            size = (wn // wd, hn // hd)
    irot = next((body for kind, body in chosen if kind == b"irot"), b"")
    orientation = {1: 8, 2: 3, 3: 6}.get(irot[0] & 3, 1) if irot else None
    alpha = any(kind == b"auxC" and b"auxiliary:alpha" in body for kind, body in ipco)
    return fmt, (int(size[0]), int(size[1])), "RGBA" if alpha else "RGB", orientation, 1


def _find_box(rf: RangeFile, wanted: bytes) -> bytes | None:
    """Body of the first top-level box named ``wanted`` among the first few boxes."""
    offset, size = 0, rf.size
    for _ in range(16):
        header = read_at(rf, offset, 16)
        if len(header) < 8:
            return None
        length, kind = struct.unpack_from(">I4s", header)
        skip = 8
        if length == 1 and len(header) == 16:
            length, skip = struct.unpack_from(">Q", header, 8)[0], 16
        elif length == 0:
            length = size - offset
        if length < skip:
            return None
        if kind == wanted:
            if length > MAX_META_BOX:
                raise ProbeError(f"HEIF {wanted.decode()} box of {length} bytes is too large")
            return read_at(rf, offset + skip, length - skip)
        offset += length
    return None


def _boxes(data: bytes, start: int) -> Iterator[tuple[bytes, bytes]]:
    """``(type, body)`` of the boxes in ``data[start:]`` (32-bit sizes; stops at junk)."""
    offset = start
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        if length < 8 or offset + length > len(data):
            return
        yield kind, data[offset + 8 : offset + length]
        offset += length


def _primary_item(pitm: bytes) -> int | None:
    if len(pitm) < 6:
        return None
    return struct.unpack_from(">H", pitm, 4)[0] if pitm[0] == 0 else None


def _associations(ipma: bytes, item: int | None) -> list[int]:
    """1-based ``ipco`` indexes associated with ``item`` in an ``ipma`` box."""
    if len(ipma) < 8 or item is None:
        return []
    version, flags = ipma[0], int.from_bytes(ipma[1:4], "big")
    (count,) = struct.unpack_from(">I", ipma, 4)
    pos, id_len, wide = 8, 2 if version < 1 else 4, bool(flags & 1)
    for _ in range(count):
        if pos + id_len + 1 > len(ipma):
            break
        item_id = int.from_bytes(ipma[pos : pos + id_len], "big")
        n = ipma[pos + id_len]
        pos += id_len + 1
        width = 2 if wide else 1
        raw = [ipma[pos + i * width : pos + (i + 1) * width] for i in range(n)]
        pos += n * width
        if item_id == item:
            return [int.from_bytes(v, "big") & (0x7FFF if wide else 0x7F) for v in raw]
    return []
