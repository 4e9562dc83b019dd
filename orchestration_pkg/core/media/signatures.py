"""Magic-byte signatures: the format a file's first bytes announce, and its MIME type.

Each check takes ``head`` and returns a :class:`Sniffed` verdict or None; :func:`sniff_magic`
runs them in order. The TIFF header parser is shared with the raster prober.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from dataclasses import dataclass

TEXT_SAMPLE = 16 * 1024
"""Bytes of ``head`` judged by the text check (charset-normalizer is slow on large inputs)."""

GEO_TAGS = frozenset({33550, 33922, 34264, 34735})
"""ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory."""

FORMAT_MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "heif": "image/heif",
    "avif": "image/avif",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "m4v": "video/x-m4v",
    "3gp": "video/3gpp",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "pdf": "application/pdf",
    "text": "text/plain",
}
"""The MIME type of each format name."""

_KIND = {
    **dict.fromkeys(("jpeg", "png", "gif", "webp", "bmp", "tiff", "heic", "heif", "avif"), "image"),
    **dict.fromkeys(("mp4", "mov", "m4v", "3gp", "webm", "mkv", "avi"), "video"),
    **dict.fromkeys(("wav", "mp3", "flac", "ogg", "aac", "m4a"), "audio"),
    "pdf": "pdf",
    "text": "text",
}

BOM_CODECS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
"""Byte order marks and the Python codec that reads them (UTF-32 LE before UTF-16 LE)."""
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


@dataclass(frozen=True)
class Sniffed:
    """The verdict: a media ``kind``, a short ``format`` name and its MIME type."""

    kind: str
    format: str
    mime_type: str | None


UNKNOWN = Sniffed("unknown", "", None)


def mime_for(format: str) -> str:
    """The MIME type of a format name (``application/octet-stream`` if unknown)."""
    return FORMAT_MIME.get(format, "application/octet-stream")


def sniff_magic(head: bytes) -> Sniffed | None:
    """The format announced by the magic bytes of ``head``, or None."""
    for check in _CHECKS:
        found = check(head)
        if found is not None:
            return found
    return None


def verdict(fmt: str, kind: str | None = None) -> Sniffed:
    """The :class:`Sniffed` of format ``fmt`` (``kind`` overrides the format's usual kind)."""
    return Sniffed(kind or _KIND[fmt], fmt, mime_for(fmt))


# -- magic checks (each: head -> Sniffed | None) ---------------------------------------------


def _simple(head: bytes) -> Sniffed | None:
    """Formats identified by a fixed prefix."""
    if head.startswith(b"\xff\xd8\xff"):
        return verdict("jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return verdict("png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return verdict("gif")
    if head.startswith(b"fLaC"):
        return verdict("flac")
    if head.startswith(b"%PDF-"):
        return verdict("pdf")
    return None


def _bmp(head: bytes) -> Sniffed | None:
    if head.startswith(b"BM") and len(head) >= 18:
        (header_size,) = struct.unpack_from("<I", head, 14)
        if header_size in _BMP_HEADER_SIZES:
            return verdict("bmp")
    return None


def _riff(head: bytes) -> Sniffed | None:
    if not head.startswith(b"RIFF") or len(head) < 12:
        return None
    form = head[8:12]
    return {b"WEBP": verdict("webp"), b"AVI ": verdict("avi"), b"WAVE": verdict("wav")}.get(form)


def _tiff(head: bytes) -> Sniffed | None:
    layout = tiff_header(head)
    if layout is None:
        return None
    tags = first_ifd_tags(head, layout)
    return verdict("tiff", "raster" if tags & GEO_TAGS else "image")


def _ftyp(head: bytes) -> Sniffed | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    (box_size,) = struct.unpack(">I", head[:4])
    major = head[8:12].decode("latin-1")
    end = min(max(box_size, 16), len(head))
    compatible = [head[i : i + 4].decode("latin-1") for i in range(16, end - 3, 4)]
    return _brand_format(major, compatible)


def _brand_format(major: str, compatible: list[str]) -> Sniffed:
    """ISO-BMFF brands → format (major brand first, then the compatible ones)."""
    for brand in (major, *compatible):
        fmt = _BRANDS.get(brand)
        if fmt == "heif":  # a generic HEIF brand: the codec brand says what it really is
            fmt = "avif" if "avif" in compatible else "heic" if "heic" in compatible else "heif"
        if fmt:
            return verdict(fmt)
    return verdict("mp4")


_BRANDS = {
    **dict.fromkeys(("heic", "heix", "heim", "heis", "hevc", "hevx"), "heic"),
    **dict.fromkeys(("mif1", "msf1"), "heif"),
    **dict.fromkeys(("avif", "avis"), "avif"),
    **dict.fromkeys(("M4A ", "M4B ", "M4P "), "m4a"),
    "qt  ": "mov",
    **dict.fromkeys(("M4V ", "M4VH", "M4VP"), "m4v"),
    **dict.fromkeys(("3gp4", "3gp5", "3gp6", "3gp7", "3ge6", "3gg6", "3g2a", "3g2b"), "3gp"),
    **dict.fromkeys(("isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1"), "mp4"),
    **dict.fromkeys(("dash", "mmp4", "MSNV", "f4v "), "mp4"),
}


def _ebml(head: bytes) -> Sniffed | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    at = head.find(b"\x42\x82", 4, 64)
    doctype = b""
    if at >= 0 and at + 3 <= len(head) and head[at + 2] & 0x80:
        length = head[at + 2] & 0x7F
        doctype = head[at + 3 : at + 3 + length].rstrip(b"\x00")
    return verdict("webm" if doctype == b"webm" else "mkv")


def _ogg(head: bytes) -> Sniffed | None:
    if not head.startswith(b"OggS"):
        return None
    segments = head[26] if len(head) > 26 else 0
    packet = head[27 + segments : 27 + segments + 8]
    if packet.startswith(b"\x80theora"):
        return verdict("ogg", "video")
    return verdict("ogg", "audio")  # vorbis, opus, speex, flac-in-ogg (and unknown: most likely)


def _mpeg_audio(head: bytes) -> Sniffed | None:
    """ADTS AAC or MPEG audio (mp3), possibly behind an ID3v2 tag."""
    start = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        start = 10 + size
        if start + 2 > len(head) or not _is_adts(head[start:]):
            return verdict("mp3")  # the frame is beyond head: ID3 is (nearly) always mp3
    if _is_adts(head[start:]):
        return verdict("aac")
    if _is_mp3_frame(head[start:]):
        return verdict("mp3")
    return None


def _is_adts(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0


def _is_mp3_frame(data: bytes) -> bool:
    if len(data) < 3 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    layer = (data[1] >> 1) & 0x3  # 1 = Layer III, 2 = Layer II (Layer I: rare, BOM-like)
    bitrate, rate = data[2] >> 4, (data[2] >> 2) & 0x3
    return layer in (1, 2) and bitrate not in (0, 0xF) and rate != 0x3


def _pdf_later(head: bytes) -> Sniffed | None:
    """``%PDF-`` may follow some junk (e.g. a MacBinary header) within the first 1024 bytes."""
    return verdict("pdf") if b"%PDF-" in head[:1024] else None


def _bom_text(head: bytes) -> Sniffed | None:
    """A Unicode BOM followed by text that decodes (UTF-16 ``FF FE`` also looks like mp3)."""
    for bom, codec in BOM_CODECS:
        if head.startswith(bom):
            sample = head[: TEXT_SAMPLE - TEXT_SAMPLE % 4]
            text = codecs.getincrementaldecoder(codec)(errors="strict")
            try:
                text.decode(sample, final=False)
            except UnicodeDecodeError:
                return None
            return verdict("text")
    return None


_CHECKS: tuple[Callable[[bytes], Sniffed | None], ...] = (
    _bom_text,
    _simple,
    _riff,
    _tiff,
    _ftyp,
    _ebml,
    _ogg,
    _bmp,
    _mpeg_audio,
    _pdf_later,
)


# -- TIFF header (shared with the raster prober) ---------------------------------------------


@dataclass(frozen=True)
class TiffHeader:
    """Byte order, classic/BigTIFF and where the first IFD is."""

    endian: str  # "<" or ">"
    bigtiff: bool
    first_ifd: int

    @property
    def count_fmt(self) -> str:
        return self.endian + ("Q" if self.bigtiff else "H")

    @property
    def offset_fmt(self) -> str:
        return self.endian + ("Q" if self.bigtiff else "I")

    @property
    def entry_size(self) -> int:
        return 20 if self.bigtiff else 12


def tiff_header(head: bytes) -> TiffHeader | None:
    """Parse the 8-byte (classic) or 16-byte (BigTIFF) TIFF header, if ``head`` has one."""
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    endian = "<" if head[:2] == b"II" else ">"
    (version,) = struct.unpack_from(endian + "H", head, 2)
    if version == 42:
        return TiffHeader(endian, False, struct.unpack_from(endian + "I", head, 4)[0])
    if version == 43 and len(head) >= 16:
        return TiffHeader(endian, True, struct.unpack_from(endian + "Q", head, 8)[0])
    return None


def first_ifd_tags(head: bytes, layout: TiffHeader) -> set[int]:
    """Tag ids of the first IFD, as far as its entries lie inside ``head``."""
    at = layout.first_ifd
    count_size = struct.calcsize(layout.count_fmt)
    if at + count_size > len(head):
        return set()
    (count,) = struct.unpack_from(layout.count_fmt, head, at)
    tags: set[int] = set()
    for i in range(min(count, 4096)):
        pos = at + count_size + i * layout.entry_size
        if pos + 2 > len(head):
            break
        tags.add(struct.unpack_from(layout.endian + "H", head, pos)[0])
    return tags
