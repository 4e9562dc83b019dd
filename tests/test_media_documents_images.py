"""Sniffing, and header-only probing of images, GeoTIFF/COG rasters, PDFs and text over S3.

Every fixture is generated here (Pillow, pypdf, hand-packed TIFF/PNG/RIFF/ISO-BMFF headers),
uploaded to the moto S3 server on 127.0.0.1 and probed through ``S3Storage`` + ``RangeFile``,
so the byte and request counts are those of real ranged GETs.
"""

from __future__ import annotations

import io
import math
import os
import random
import statistics
import struct
import zlib
from collections.abc import Callable
from functools import cache

import pytest
from PIL import Image, TiffImagePlugin, TiffTags
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.media.document import probe_pdf, probe_text
from orchestration_pkg.core.media.image import IMAGE_BLOCK, probe_image_file
from orchestration_pkg.core.media.models import ImageMetadata, RasterMetadata
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.media.raster import crs_epsg, dtype, probe_raster
from orchestration_pkg.core.media.sniff import mime_for, sniff
from orchestration_pkg.core.providers.s3.storage import S3Storage
from tests.media import image_bytes

KIB = 1024
ORDINARY_IMAGE_BUDGET = 64 * KIB

Opener = Callable[..., RangeFile]


@pytest.fixture
def remote(s3_bucket, s3_config_factory) -> Opener:
    """``remote(key, data, content_type=None, block_size=16 KiB)`` → uploaded, as a RangeFile."""
    storage = S3Storage(s3_config_factory())

    def open_(
        key: str, data: bytes, content_type: str | None = None, block_size: int = IMAGE_BLOCK
    ) -> RangeFile:
        s3_bucket.put(key, data, content_type)
        return RangeFile(storage, key, block_size=block_size)

    return open_


def head_of(rf: RangeFile, n: int = 16 * KIB) -> bytes:
    """The first bytes of ``rf`` (what the dispatcher sniffs)."""
    rf.seek(0)
    data = rf.read(n)
    rf.seek(0)
    return data


# -- generated media ---------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


@cache
def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Incompressible-ish pixels, so that files have realistic sizes."""
    return Image.effect_noise((width, height), 64).convert(mode)


def translucent(width: int, height: int) -> Image.Image:
    img = noise(width, height).copy()
    img.putalpha(128)
    return img


def exif(orientation: int | None = None, padding: int = 0) -> bytes:
    data = Image.Exif()
    if orientation:
        data[0x0112] = orientation
    if padding:
        data[0x010E] = "x" * padding
    return data.tobytes()


def animated(fmt: str, size: tuple[int, int], frames: int = 3) -> bytes:
    imgs = [Image.effect_noise(size, 20 + 30 * i).convert("RGB") for i in range(frames)]
    if fmt == "GIF":
        imgs = [img.convert("P") for img in imgs]
    return encode(imgs[0], fmt, save_all=True, append_images=imgs[1:], duration=80, loop=0)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` (a decompression bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def webp_vp8x_claiming(width: int, height: int) -> bytes:
    """A WebP extended header claiming ``width`` x ``height``."""
    vp8x = b"\0\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x + b"VP8 " + struct.pack("<I", 0)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    return (
        struct.pack(">I", 16 + 4 * len(compatible))
        + b"ftyp"
        + major
        + b"\0\0\0\0"
        + b"".join(compatible)
    )


def pdf_bytes(pages: int = 3, bulk: int = 250 * KIB, password: str | None = None) -> bytes:
    """A PDF of A4 pages; page 1 gets ``bulk`` bytes of (comment) content."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    stream = DecodedStreamObject()
    stream.set_data(b"% " + os.urandom(bulk // 2).hex().encode() + b"\n")
    writer.pages[0][NameObject("/Contents")] = writer._add_object(stream)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# -- GeoTIFF / COG writer (Pillow cannot write tiled TIFFs) ------------------------------------

SHORT, LONG, DOUBLE, LONG8 = 3, 4, 12, 16
_CODES = {SHORT: "H", LONG: "I", DOUBLE: "d", LONG8: "Q"}


def geokeys(epsg: int, geographic: bool) -> tuple[int, ...]:
    """GeoKeyDirectory: model type, raster type, then Projected/GeographicType = ``epsg``."""
    crs_key = 2048 if geographic else 3072
    model = 2 if geographic else 1
    return (1, 1, 0, 3, 1024, 0, 1, model, 1025, 0, 1, 1, crs_key, 0, 1, epsg)


def ifd_bytes(tags: dict[int, tuple[int, tuple]], at: int, big: bool, next_ifd: int) -> bytes:
    """An IFD placed at ``at``, its out-of-line values right after its entry table."""
    inline = 8 if big else 4
    count = struct.pack("<Q" if big else "<H", len(tags))
    table_len = len(count) + len(tags) * (20 if big else 12) + inline
    entries, extra = bytearray(), bytearray()
    for tag in sorted(tags):
        kind, vals = tags[tag]
        raw = struct.pack(f"<{len(vals)}{_CODES[kind]}", *vals)
        if len(raw) <= inline:
            field = raw.ljust(inline, b"\0")
        else:
            field = struct.pack("<Q" if big else "<I", at + table_len + len(extra))
            extra += raw + b"\0" * (len(raw) % 2)
        entries += struct.pack("<HHQ" if big else "<HHI", tag, kind, len(vals)) + field
    return count + bytes(entries) + struct.pack("<Q" if big else "<I", next_ifd) + bytes(extra)


def geotiff(
    size: int = 512,
    tile: int = 128,
    overviews: int = 2,
    bands: int = 3,
    bits: int = 8,
    sample_format: int = 1,
    epsg: int = 32633,
    geographic: bool = False,
    big: bool = False,
    cog: bool = True,
) -> bytes:
    """A tiled, uncompressed GeoTIFF: COG layout (IFDs first) or IFDs after the data."""
    levels = [size >> i for i in range(overviews + 1)]
    tile_bytes = tile * tile * bands * bits // 8
    tiles = [math.ceil(s / tile) ** 2 for s in levels]

    def tags(i: int, offsets: tuple[int, ...]) -> dict[int, tuple[int, tuple]]:
        offset_kind = LONG8 if big else LONG
        found = {
            254: (LONG, (1 if i else 0,)),
            256: (LONG, (levels[i],)),
            257: (LONG, (levels[i],)),
            258: (SHORT, (bits,) * bands),
            259: (SHORT, (1,)),
            262: (SHORT, (2 if bands == 3 else 1,)),
            277: (SHORT, (bands,)),
            284: (SHORT, (1,)),
            322: (SHORT, (tile,)),
            323: (SHORT, (tile,)),
            324: (offset_kind, offsets),
            325: (LONG, (tile_bytes,) * len(offsets)),
            339: (SHORT, (sample_format,) * bands),
        }
        if bands not in (1, 3):
            found[338] = (SHORT, (0,) * (bands - 1))
        if i == 0:
            found[33550] = (DOUBLE, (10.0, 10.0, 0.0))
            found[33922] = (DOUBLE, (0.0, 0.0, 0.0, 500000.0, 6000000.0, 0.0))
            found[34735] = (SHORT, geokeys(epsg, geographic))
        return found

    header_len = 16 if big else 8
    sizes = [len(ifd_bytes(tags(i, (0,) * tiles[i]), 0, big, 0)) for i in range(len(levels))]
    data_len = [n * tile_bytes for n in tiles]
    if cog:  # IFDs first, then the data: smallest overview first, full resolution last
        ifd_at = [header_len + sum(sizes[:i]) for i in range(len(levels))]
        start = header_len + sum(sizes)
        data_at = {}
        for i in reversed(range(len(levels))):
            data_at[i], start = start, start + data_len[i]
    else:  # data first (full resolution first), IFDs at the end
        data_at, start = {}, header_len
        for i in range(len(levels)):
            data_at[i], start = start, start + data_len[i]
        ifd_at = [start + sum(sizes[:i]) for i in range(len(levels))]
    out = bytearray(b"II+\0" + struct.pack("<HHQ", 8, 0, ifd_at[0]) if big else b"II*\0")
    if not big:
        out += struct.pack("<I", ifd_at[0])
    blobs = {}
    for i in range(len(levels)):
        offsets = tuple(data_at[i] + k * tile_bytes for k in range(tiles[i]))
        nxt = ifd_at[i + 1] if i + 1 < len(levels) else 0
        blobs[ifd_at[i]] = ifd_bytes(tags(i, offsets), ifd_at[i], big, nxt)
        blobs[data_at[i]] = bytes([i * 40 + 20]) * data_len[i]
    for at in sorted(blobs):
        assert len(out) == at
        out += blobs[at]
    return bytes(out)


def pillow_geotiff_striped() -> bytes:
    """A striped GeoTIFF written by Pillow (tags via ``tiffinfo``) with two more pages."""
    info = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, kind, value in (
        (33550, TiffTags.DOUBLE, (0.5, 0.5, 0.0)),
        (33922, TiffTags.DOUBLE, (0.0, 0.0, 0.0, 10.0, 50.0, 0.0)),
        (34735, TiffTags.SHORT, geokeys(4326, geographic=True)),
    ):
        info[tag] = value
        info.tagtype[tag] = kind
    base = noise(400, 300, "L")
    pages = [base.resize((200, 150)), base.resize((100, 75))]
    return encode(base, "TIFF", tiffinfo=info, save_all=True, append_images=pages)


# -- sniffing ------------------------------------------------------------------------------------

SMALL = Image.new("RGB", (8, 8), (10, 20, 30))
JUNK = random.Random(7).randbytes(5000)  # no magic at its start, has NUL bytes
OGG_PAGE = b"OggS\x00\x02" + bytes(20) + b"\x01\x1e"


@pytest.mark.parametrize(
    ("head", "kind", "fmt"),
    [
        pytest.param(encode(SMALL, "JPEG"), "image", "jpeg", id="jpeg"),
        pytest.param(encode(SMALL, "PNG"), "image", "png", id="png"),
        pytest.param(encode(SMALL, "GIF"), "image", "gif", id="gif"),
        pytest.param(encode(SMALL, "WEBP"), "image", "webp", id="webp"),
        pytest.param(encode(SMALL, "BMP"), "image", "bmp", id="bmp"),
        pytest.param(encode(SMALL, "TIFF"), "image", "tiff", id="tiff"),
        pytest.param(geotiff(64, 16, 1), "raster", "tiff", id="geotiff"),
        pytest.param(geotiff(64, 16, 1, big=True), "raster", "tiff", id="bigtiff-geo"),
        pytest.param(geotiff(128, 16, 0, cog=False)[:4096], "image", "tiff", id="geo-ifd-later"),
        pytest.param(ftyp(b"heic", b"mif1", b"heic"), "image", "heic", id="heic"),
        pytest.param(ftyp(b"heix"), "image", "heic", id="heix"),
        pytest.param(ftyp(b"mif1", b"mif1", b"heic"), "image", "heic", id="mif1-heic"),
        pytest.param(ftyp(b"mif1", b"mif1"), "image", "heif", id="mif1"),
        pytest.param(ftyp(b"avif", b"mif1", b"avif"), "image", "avif", id="avif"),
        pytest.param(ftyp(b"mif1", b"avif"), "image", "avif", id="mif1-avif"),
        pytest.param(ftyp(b"isom", b"iso2", b"avc1"), "video", "mp4", id="mp4"),
        pytest.param(ftyp(b"mp42", b"isom"), "video", "mp4", id="mp42"),
        pytest.param(ftyp(b"qt  ", b"qt  "), "video", "mov", id="mov"),
        pytest.param(ftyp(b"M4V ", b"isom"), "video", "m4v", id="m4v"),
        pytest.param(ftyp(b"3gp4", b"isom"), "video", "3gp", id="3gp"),
        pytest.param(ftyp(b"M4A ", b"isom"), "audio", "m4a", id="m4a"),
        pytest.param(ftyp(b"M4B "), "audio", "m4a", id="m4b"),
        pytest.param(
            b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video", "webm", id="webm"
        ),
        pytest.param(
            b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "video", "mkv", id="mkv"
        ),
        pytest.param(b"RIFF\x24\x00\x00\x00AVI LIST", "video", "avi", id="avi"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio", "wav", id="wav"),
        pytest.param(
            b"ID3\x04\x00\x00\x00\x00\x00\x05" + bytes(5) + b"\xff\xfb\x90\x64",
            "audio",
            "mp3",
            id="mp3-id3",
        ),
        pytest.param(b"\xff\xfb\x90\x64" + bytes(60), "audio", "mp3", id="mp3-sync"),
        pytest.param(b"\xff\xf3\x84\x64" + bytes(60), "audio", "mp3", id="mp3-mpeg2"),
        pytest.param(b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(60), "audio", "aac", id="aac-adts"),
        pytest.param(b"\xff\xf9\x50\x80\x02\x1f\xfc" + bytes(60), "audio", "aac", id="aac-mpeg2"),
        pytest.param(b"fLaC\x00\x00\x00\x22" + bytes(34), "audio", "flac", id="flac"),
        pytest.param(OGG_PAGE + b"\x01vorbis" + bytes(22), "audio", "ogg", id="ogg-vorbis"),
        pytest.param(OGG_PAGE + b"OpusHead" + bytes(11), "audio", "ogg", id="ogg-opus"),
        pytest.param(OGG_PAGE + b"\x80theora" + bytes(33), "video", "ogg", id="ogg-theora"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "pdf", "pdf", id="pdf"),
        pytest.param(bytes(128) + b"%PDF-1.4\n", "pdf", "pdf", id="pdf-after-junk"),
        pytest.param("naïve café, 東京\nline 2\n".encode(), "text", "text", id="utf8"),
        pytest.param("héllo wörld\n".encode("utf-16"), "text", "text", id="utf16-bom"),
        pytest.param("hé\n".encode("utf-16-be"), "unknown", "", id="utf16-no-bom-is-binary"),
        pytest.param(
            "Déjà vu à la façade du café, crème brûlée.\n".encode("latin-1") * 5,
            "text",
            "text",
            id="latin1",
        ),
        pytest.param(
            os.urandom(2048).replace(b"%PDF-", b"") + bytes(2), "unknown", "", id="binary"
        ),
        pytest.param(b"", "unknown", "", id="empty"),
    ],
)
def test_sniff_magic(head: bytes, kind: str, fmt: str):
    found = sniff(head)
    assert (found.kind, found.format) == (kind, fmt)
    assert found.mime_type == (mime_for(fmt) if fmt else None)


def test_magic_beats_extension_and_content_type():
    png = encode(SMALL, "PNG")
    assert sniff(png, name="photo.jpg", content_type="image/jpeg").format == "png"
    text = sniff(b"id,name\n1,caf\xc3\xa9\n", name="s3://b/table.csv", content_type="image/png")
    assert (text.kind, text.mime_type) == ("text", "text/csv")
    assert sniff(b"just words\n", name="x.png").kind == "text"


def test_hints_when_the_bytes_say_nothing():
    junk = bytes(range(256)) * 4
    assert sniff(b"", name="s3://bucket/dir.v2/IMG_01.JPG?versionId=3").format == "jpeg"
    assert sniff(junk, name="clip.MOV").format == "mov"
    assert sniff(junk, content_type="image/png; charset=binary").format == "png"
    assert sniff(junk, name="x.unknown", content_type="application/x-foo").kind == "unknown"
    assert sniff(b"", name="notes", content_type="text/markdown") == sniff(
        b"", content_type="text/markdown"
    )
    assert sniff(b"", content_type="text/markdown").mime_type == "text/markdown"


def test_mime_for():
    assert mime_for("jpeg") == "image/jpeg" and mime_for("mov") == "video/quicktime"
    assert mime_for("m4a") == "audio/mp4" and mime_for("pdf") == "application/pdf"
    assert mime_for("nope") == "application/octet-stream"


# -- images --------------------------------------------------------------------------------------

ORDINARY = {
    "rotated.jpg": (
        lambda: encode(noise(1600, 1200), "JPEG", exif=exif(6), quality=90),
        {"format": "jpeg", "width": 1600, "height": 1200, "orientation": 6, "mode": "RGB"},
        {"display_width": 1200, "display_height": 1600, "frames": 1},
    ),
    "photo.png": (
        lambda: encode(noise(1000, 700), "PNG"),
        {"format": "png", "width": 1000, "height": 700, "mode": "RGB", "frames": 1},
        {"display_width": 1000, "display_height": 700, "orientation": None},
    ),
    "exif8.png": (
        lambda: encode(noise(300, 200), "PNG", exif=exif(8)),
        {"format": "png", "width": 300, "height": 200, "orientation": 8},
        {"display_width": 200, "display_height": 300},
    ),
    "anim.gif": (
        lambda: animated("GIF", (64, 48)),
        {"format": "gif", "width": 64, "height": 48, "mode": "P", "frames": 3},
        {},
    ),
    "photo.webp": (
        lambda: encode(noise(1200, 900), "WEBP", quality=80),
        {"format": "webp", "width": 1200, "height": 900, "mode": "RGB", "frames": 1},
        {},
    ),
    "anim.webp": (
        lambda: animated("WEBP", (160, 120)),
        {"format": "webp", "width": 160, "height": 120, "frames": 3},
        {},
    ),
    "rotated.webp": (
        lambda: encode(noise(320, 240), "WEBP", exif=exif(6)),
        {"format": "webp", "width": 320, "height": 240, "orientation": 6},
        {"display_width": 240, "display_height": 320},
    ),
    "scan.bmp": (
        lambda: encode(noise(800, 600), "BMP"),
        {"format": "bmp", "width": 800, "height": 600, "mode": "RGB"},
        {},
    ),
    "scan.tiff": (
        lambda: encode(noise(800, 600), "TIFF"),
        {"format": "tiff", "width": 800, "height": 600, "mode": "RGB", "frames": 1},
        {},
    ),
    "rotated.tiff": (
        lambda: encode(noise(320, 240), "TIFF", exif=exif(6)),
        {"format": "tiff", "width": 320, "height": 240, "orientation": 6},
        {"display_width": 240, "display_height": 320},
    ),
    "pages.tiff": (
        lambda: encode(noise(300, 200), "TIFF", save_all=True, append_images=[noise(30, 20)] * 2),
        {"format": "tiff", "width": 300, "height": 200, "frames": 3},
        {},
    ),
    "alpha.avif": (
        lambda: encode(translucent(640, 480), "AVIF"),
        {"format": "avif", "width": 640, "height": 480, "mode": "RGBA", "frames": 1},
        {},
    ),
    "gray.jpg": (
        lambda: image_bytes(640, 480, "JPEG"),
        {"format": "jpeg", "width": 640, "height": 480},
        {},
    ),
}


@pytest.mark.parametrize("key", list(ORDINARY))
def test_ordinary_images_from_one_small_read(remote, key):
    make, expected, extra = ORDINARY[key]
    data = make()
    rf = remote(key, data)
    assert sniff(head_of(rf), name=key).kind == "image"
    meta = probe_image_file(rf)
    assert isinstance(meta, ImageMetadata) and meta.kind == "image"
    got = meta.model_dump()
    assert {k: got[k] for k in expected} == expected
    assert {k: got[k] for k in extra} == extra
    reference = Image.open(io.BytesIO(data))
    assert reference.format.lower() == meta.format
    assert meta.mode == reference.mode
    assert meta.mime_type == mime_for(meta.format) and meta.file_size == len(data)
    if len(data) > ORDINARY_IMAGE_BUDGET:
        assert rf.bytes_read <= ORDINARY_IMAGE_BUDGET, (rf.bytes_read, rf.requests)
    assert rf.requests <= 3 and not rf.closed  # Pillow must not close the caller's file


def test_median_image_probe_reads_at_most_64_kib(remote):
    read = []
    for key, (make, _expected, _extra) in ORDINARY.items():
        rf = remote(key, make())
        probe_image_file(rf)
        read.append(rf.bytes_read)
    assert statistics.median(read) <= ORDINARY_IMAGE_BUDGET
    assert statistics.median(read) <= IMAGE_BLOCK  # one 16 KiB block in the common case


def test_jpeg_with_a_header_larger_than_64_kib(remote):
    data = encode(noise(800, 600), "JPEG", exif=exif(3, 30_000), icc_profile=os.urandom(150_000))
    rf = remote("big-header.jpg", data)
    meta = probe_image_file(rf)
    assert (meta.width, meta.height, meta.orientation) == (800, 600, 3)
    assert (meta.display_width, meta.display_height) == (800, 600)
    header = 150_000 + 30_000
    assert header < rf.bytes_read <= header + 2 * IMAGE_BLOCK < len(data)


def test_png_named_jpg_is_sniffed_and_probed_as_png(remote):
    rf = remote("really-a-png.jpg", encode(noise(120, 80), "PNG"), "image/jpeg")
    assert sniff(head_of(rf), name=rf.key, content_type="image/jpeg").format == "png"
    meta = probe_image_file(rf)
    assert (meta.format, meta.mime_type, meta.width) == ("png", "image/png", 120)


def test_large_gif_skips_the_frame_count_instead_of_reading_everything(remote):
    data = animated("GIF", (500, 400))
    rf = remote("big.gif", data)
    meta = probe_image_file(rf)
    assert (meta.width, meta.height, meta.frames) == (500, 400, None)
    assert len(data) > 100 * KIB and rf.bytes_read == IMAGE_BLOCK


@pytest.mark.parametrize(
    ("key", "data"),
    [
        pytest.param("bomb.png", png_claiming(100_000, 100_000), id="png-error"),
        pytest.param("bomb2.png", png_claiming(10_000, 9_000), id="png-warning"),
        pytest.param("bomb.webp", webp_vp8x_claiming(16_000, 16_000), id="webp"),
    ],
)
def test_decompression_bombs_are_refused_without_decoding(remote, key, data):
    rf = remote(key, data)
    with pytest.raises(ProbeError, match="decompression bomb"):
        probe_image_file(rf)
    assert rf.requests == 1


PNG = encode(noise(64, 64), "PNG")
JPEG = encode(noise(64, 64), "JPEG", exif=exif(6))


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        pytest.param("empty.png", b"", "zero-byte", id="zero-byte"),
        pytest.param("cut.png", PNG[:20], "corrupt or truncated PNG", id="png-in-ihdr"),
        pytest.param("cut2.png", PNG[:40], "corrupt or truncated PNG", id="png-before-idat"),
        pytest.param("cut.jpg", JPEG[:60], "corrupt or truncated JPEG", id="jpeg-in-exif"),
        pytest.param("cut.gif", encode(SMALL, "GIF")[:8], "corrupt or truncated GIF", id="gif"),
        pytest.param("cut.webp", encode(SMALL, "WEBP")[:20], "truncated WEBP", id="webp"),
        pytest.param("notes.png", b"hello, I am text\n" * 10, "content is text", id="text"),
        pytest.param("noise.jpg", JUNK, "not a recognised image", id="junk"),
        pytest.param("doc.png", b"%PDF-1.4\n" + bytes(100), "content is pdf", id="pdf"),
        pytest.param(
            "x.heic",
            ftyp(b"heic", b"mif1", b"heic") + bytes(64),
            "corrupt HEIC: no meta box",
            id="heic-no-meta",
        ),
        pytest.param(
            "x.avif", ftyp(b"avif", b"mif1") + bytes(64), "no meta box", id="avif-no-meta"
        ),
    ],
)
def test_unreadable_images_give_clear_probe_errors(remote, key, data, reason):
    rf = remote(key, data)
    with pytest.raises(ProbeError, match=reason):
        probe_image_file(rf)


def test_heic_size_and_rotation_from_the_meta_box(remote):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, "HEIF", quality=50)
    meta = probe_image_file(remote("photo.heic", buf.getvalue()))
    assert (meta.format, meta.width, meta.height, meta.mime_type) == (
        "heic",
        40,
        30,
        "image/heic",
    )


def test_text_named_png_is_sniffed_as_text(remote):
    rf = remote("readme.png", b"Plain words, not pixels.\nSecond line.\n")
    found = sniff(head_of(rf), name=rf.key, content_type="image/png")
    assert (found.kind, found.mime_type) == ("text", "text/plain")
    meta = probe_text(rf)
    assert (meta.line_count, meta.encoding, meta.line_count_exact) == (2, "utf-8", True)


# -- rasters ------------------------------------------------------------------------------------


def test_cog_geotiff(remote):
    data = geotiff(512, 128, overviews=2, bands=3, epsg=32633)
    assert Image.open(io.BytesIO(data)).convert("RGB").getpixel((5, 5)) == (20, 20, 20)
    rf = remote("scene.tif", data)
    assert sniff(head_of(rf), name=rf.key).kind == "raster"
    meta = probe_raster(rf)
    assert meta.model_dump(exclude_none=True) == {
        "kind": "raster",
        "mime_type": "image/tiff",
        "file_size": len(data),
        "width": 512,
        "height": 512,
        "display_width": 512,
        "display_height": 512,
        "format": "tiff",
        "mode": "RGB",
        "bands": 3,
        "dtype": "uint8",
        "tile_width": 128,
        "tile_height": 128,
        "overview_count": 2,
        "crs_epsg": 32633,
        "cloud_optimized": True,
    }
    assert (rf.requests, rf.bytes_read) == (1, IMAGE_BLOCK)


def test_bigtiff_float_cog_geographic(remote):
    data = geotiff(256, 64, overviews=3, bands=1, bits=32, sample_format=3, epsg=4326,
                   geographic=True, big=True)  # fmt: skip
    rf = remote("dem.tif", data)
    meta = probe_raster(rf)
    assert (meta.width, meta.bands, meta.dtype, meta.mode) == (256, 1, "float32", "F")
    assert (meta.overview_count, meta.crs_epsg, meta.cloud_optimized) == (3, 4326, True)
    assert (meta.tile_width, meta.tile_height) == (64, 64)
    assert rf.requests == 1


def test_multiband_raster_pillow_cannot_open(remote):
    data = geotiff(256, 64, overviews=1, bands=5, bits=16, sample_format=2, epsg=3857)
    with pytest.raises(Exception, match="unknown pixel mode|not supported|cannot"):  # noqa: B017
        Image.open(io.BytesIO(data))
    meta = probe_raster(remote("multi.tif", data))
    assert (meta.bands, meta.dtype, meta.mode, meta.crs_epsg) == (5, "int16", None, 3857)


def test_tiff_with_geo_ifd_after_the_data_is_upgraded_to_raster(remote):
    data = geotiff(512, 128, overviews=2, bands=3, cog=False)
    rf = remote("late.tif", data)
    assert sniff(head_of(rf), name=rf.key) == sniff(encode(SMALL, "TIFF"))  # "image": tags unseen
    meta = probe_image_file(rf)
    assert isinstance(meta, RasterMetadata)
    assert (meta.overview_count, meta.crs_epsg, meta.tile_width) == (2, 32633, 128)
    assert meta.cloud_optimized is False
    assert rf.requests <= 3 and rf.bytes_read <= 3 * IMAGE_BLOCK < len(data)


def test_striped_geotiff_written_by_pillow(remote):
    data = pillow_geotiff_striped()
    rf = remote("striped.tif", data)
    assert sniff(head_of(rf)).kind == "raster"
    meta = probe_raster(rf)
    assert (meta.width, meta.height, meta.bands, meta.dtype, meta.mode) == (
        400,
        300,
        1,
        "uint8",
        "L",
    )
    assert (meta.tile_width, meta.tile_height, meta.cloud_optimized) == (None, None, False)
    assert (meta.overview_count, meta.crs_epsg) == (2, 4326)


def test_geokeys_and_sample_types():
    assert crs_epsg(geokeys(32633, geographic=False)) == 32633
    assert crs_epsg(geokeys(4326, geographic=True)) == 4326
    user_defined = (1, 1, 0, 2, 3072, 0, 1, 32767, 2048, 0, 1, 4326)
    assert crs_epsg(user_defined) is None  # the base GeographicType is not the CRS
    assert crs_epsg(()) is None and crs_epsg((1, 1, 0, 5)) is None
    assert dtype((16, 16), (2, 2)) == "int16" and dtype((64,), (6,)) == "complex64"
    assert dtype((8, 16), (1, 1)) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "zero-byte", id="zero-byte"),
        pytest.param(b"II*\0" + struct.pack("<I", 99_999), "past the end", id="ifd-past-end"),
        pytest.param(geotiff(64, 16, 0)[:60], "truncated TIFF", id="cut-in-ifd"),
        pytest.param(
            b"II*\0" + struct.pack("<IH", 8, 0) + bytes(8), "claims 0 entries", id="empty-ifd"
        ),
        pytest.param(encode(SMALL, "PNG"), "not a TIFF", id="png"),
    ],
)
def test_broken_rasters(remote, data, reason):
    with pytest.raises(ProbeError, match=reason):
        probe_raster(remote("bad.tif", data))


# -- PDF -------------------------------------------------------------------------------------------


def test_pdf_page_count_and_size_in_at_most_three_reads(remote):
    data = pdf_bytes()
    assert len(data) > 200 * KIB
    rf = remote("report.pdf", data)
    assert sniff(head_of(rf, 1024), name=rf.key).kind == "pdf"
    meta = probe_pdf(rf)
    assert meta.model_dump(exclude_none=True) == {
        "kind": "pdf",
        "mime_type": "application/pdf",
        "file_size": len(data),
        "page_count": 3,
        "page_width": 595.0,
        "page_height": 842.0,
        "encrypted": False,
    }
    assert rf.requests <= 3 and rf.bytes_read < len(data) / 2


def test_pdf_with_page_tree_inherited_mediabox(remote):
    writer = PdfWriter()
    for _ in range(2):
        writer.add_blank_page(612, 792)
    writer._root_object["/Pages"][NameObject("/MediaBox")] = writer.pages[0].mediabox
    for page in writer.pages:
        del page[NameObject("/MediaBox")]
    buf = io.BytesIO()
    writer.write(buf)
    meta = probe_pdf(remote("letter.pdf", buf.getvalue()))
    assert (meta.page_count, meta.page_width, meta.page_height) == (2, 612.0, 792.0)


def test_pdf_encrypted_with_empty_user_password_still_gives_pages(remote):
    rf = remote("open.pdf", pdf_bytes(password=""))
    meta = probe_pdf(rf)
    assert (meta.encrypted, meta.page_count, meta.page_width) == (True, 3, 595.0)
    assert rf.requests <= 3


def test_pdf_with_a_user_password_is_refused(remote):
    with pytest.raises(ProbeError, match="encrypted PDF"):
        probe_pdf(remote("locked.pdf", pdf_bytes(password="secret")))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "zero-byte", id="zero-byte"),
        pytest.param(b"GIF89a" + bytes(2000), "not a PDF", id="not-pdf"),
        pytest.param(b"%PDF-1.7\n" + os.urandom(40_000), "corrupt or truncated PDF", id="garbage"),
        pytest.param(pdf_bytes(bulk=20 * KIB)[:15_000], "corrupt or truncated PDF", id="truncated"),
    ],
)
def test_broken_pdfs(remote, data, reason):
    rf = remote("bad.pdf", data)
    with pytest.raises(ProbeError, match=reason):
        probe_pdf(rf)
    assert rf.bytes_read <= max(len(data), 1)


def test_pdf_with_a_wrong_startxref_is_repaired(remote):
    data = pdf_bytes(bulk=20 * KIB)
    tail = data.rindex(b"startxref")
    broken = data[:tail] + b"startxref\n1" + data[tail + len(b"startxref\n") :]
    meta = probe_pdf(remote("off.pdf", broken))
    assert meta.page_count == 3


# -- text ---------------------------------------------------------------------------------------

UTF8_TEXT = "naïve café,東京,Zürich\n" * 40 + "last line without newline"
LATIN1_TEXT = "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de partir.\n".replace("œ", "oe")


@pytest.mark.parametrize(
    ("key", "data", "encoding", "lines", "mime"),
    [
        pytest.param("t.csv", UTF8_TEXT.encode(), "utf-8", 41, "text/csv", id="utf8-csv"),
        pytest.param(
            "t.txt", UTF8_TEXT.encode("utf-8-sig"), "utf-8-sig", 41, "text/plain", id="utf8-bom"
        ),  # fmt: skip
        pytest.param("t.json", b'{"a": [1, 2]}\n', "utf-8", 1, "application/json", id="json"),
        pytest.param(
            "t.txt", "α\r\nβ\r\nγ\r\n".encode("utf-16"), "utf-16", 3, "text/plain", id="utf16-bom"
        ),  # fmt: skip
        pytest.param(
            "t.md", (LATIN1_TEXT * 30).encode("latin-1"), "cp1252", 30, "text/markdown", id="latin1"
        ),  # fmt: skip
    ],
)
def test_text_encoding_and_exact_line_count(remote, key, data, encoding, lines, mime):
    rf = remote(key, data)
    assert sniff(head_of(rf), name=key).kind == "text"
    meta = probe_text(rf)
    assert (meta.encoding, meta.line_count, meta.mime_type) == (encoding, lines, mime)
    assert (meta.line_count_exact, meta.sampled_bytes, meta.file_size) == (
        True,
        len(data),
        len(data),
    )
    assert data.decode(meta.encoding).replace("\ufeff", "") in (
        UTF8_TEXT,
        (LATIN1_TEXT * 30),
        '{"a": [1, 2]}\n',
        "α\r\nβ\r\nγ\r\n",
    )
    assert rf.requests == 1


def test_large_text_is_counted_on_the_sample_only(remote):
    line = "ligne numéro n, avec des accents: é è à ç\n".encode()
    data = line * (400 * KIB // len(line))
    rf = remote("big.log", data)
    meta = probe_text(rf)
    assert meta.sampled_bytes == 256 * KIB and meta.line_count_exact is False
    assert meta.line_count == (256 * KIB) // len(line)
    assert meta.encoding == "utf-8" and meta.file_size == len(data)
    assert rf.bytes_read == 256 * KIB

    small = remote("big2.log", data)
    meta = probe_text(small, sample_bytes=32 * KIB)
    assert (meta.sampled_bytes, meta.line_count) == (32 * KIB, 32 * KIB // len(line))
    assert small.bytes_read == 32 * KIB and small.requests <= 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "zero-byte", id="zero-byte"),
        pytest.param(b"abc\x00\x01\x02" * 100, "NUL bytes", id="binary"),
    ],
)
def test_not_text(remote, data, reason):
    with pytest.raises(ProbeError, match=reason):
        probe_text(remote("x.txt", data))
