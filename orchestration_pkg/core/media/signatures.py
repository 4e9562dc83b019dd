"""What an object is, from its first bytes: magic numbers first, then extension, then type.

Content wins over names: a PNG called ``photo.jpg`` is a PNG, and a text file called
``x.png`` is text. The file name and the Content-Type are only consulted when the bytes say
nothing recognisable (empty, truncated or an unknown binary format).
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from charset_normalizer import from_bytes

TEXT_SAMPLE = 16 * 1024
"""Bytes of ``head`` judged by the text check (charset-normalizer is slow on large inputs)."""

GEO_TAGS = frozenset({33550, 33922, 34264, 34735})
"""ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory."""

_MIME = {
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

_KIND = {
    **dict.fromkeys(("jpeg", "png", "gif", "webp", "bmp", "tiff", "heic", "heif", "avif"), "image"),
    **dict.fromkeys(("mp4", "mov", "m4v", "3gp", "webm", "mkv", "avi"), "video"),
    **dict.fromkeys(("wav", "mp3", "flac", "ogg", "aac", "m4a"), "audio"),
    "pdf": "pdf",
    "text": "text",
}

_EXTENSIONS = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "jfif": "jpeg",
    "png": "png",
    "gif": "gif",
    "webp": "webp",
    "bmp": "bmp",
    "dib": "bmp",
    "tif": "tiff",
    "tiff": "tiff",
    "heic": "heic",
    "heics": "heic",
    "heif": "heif",
    "avif": "avif",
    "mp4": "mp4",
    "mov": "mov",
    "qt": "mov",
    "m4v": "m4v",
    "3gp": "3gp",
    "3g2": "3gp",
    "webm": "webm",
    "mkv": "mkv",
    "avi": "avi",
    "wav": "wav",
    "wave": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "oga": "ogg",
    "opus": "ogg",
    "aac": "aac",
    "m4a": "m4a",
    "m4b": "m4a",
    "pdf": "pdf",
    **dict.fromkeys(("txt", "text", "csv", "tsv", "json", "jsonl", "ndjson", "md"), "text"),
    **dict.fromkeys(("xml", "html", "htm", "log", "yaml", "yml", "srt", "vtt"), "text"),
}

TEXT_MIME = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "ndjson": "application/x-ndjson",
    "md": "text/markdown",
    "xml": "application/xml",
    "html": "text/html",
    "htm": "text/html",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
}
"""Text MIME types by extension; anything else that is text is ``text/plain``."""

_MIME_FORMATS = {mime: fmt for fmt, mime in _MIME.items()} | {
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/x-ms-bmp": "bmp",
    "video/x-msvideo": "avi",
    "video/avi": "avi",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/x-flac": "flac",
    "audio/mp3": "mp3",
    "audio/x-m4a": "m4a",
    "video/ogg": "ogg",
    "application/ogg": "ogg",
    "video/matroska": "mkv",
    "application/x-pdf": "pdf",
    "application/json": "text",
    "application/xml": "text",
}

BOM_CODECS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
"""Byte order marks and the Python codec that reads them (UTF-32 LE before UTF-16 LE)."""
_BOMS = tuple(bom for bom, _ in BOM_CODECS)
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b")


@dataclass(frozen=True)
class Sniffed:
    """The verdict: a media ``kind``, a short ``format`` name and its MIME type."""

    kind: str
    format: str
    mime_type: str | None


UNKNOWN = Sniffed("unknown", "", None)


def mime_for(format: str) -> str:
    """The MIME type of a format name (``application/octet-stream`` if unknown)."""
    return _MIME.get(format, "application/octet-stream")


def sniff(head: bytes, *, name: str = "", content_type: str | None = None) -> Sniffed:
    """Kind and format of an object from its first bytes; ``name``/``content_type`` are hints."""
    found = sniff_magic(head)
    if (found is None and is_text(head)) or (found is not None and found.kind == "text"):
        found = _text(name)
    if found is None:
        found = _by_extension(name) or _by_content_type(content_type, name)
    return found or UNKNOWN


def sniff_magic(head: bytes) -> Sniffed | None:
    """The format announced by the magic bytes of ``head``, or None."""
    for check in _CHECKS:
        found = check(head)
        if found is not None:
            return found
    return None


def extension(name: str) -> str:
    """Lower-case extension of a key, path or URL (query and fragment ignored)."""
    path = urlsplit(name).path if "://" in name else name
    base = path.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _of(fmt: str, kind: str | None = None) -> Sniffed:
    return Sniffed(kind or _KIND[fmt], fmt, mime_for(fmt))


def _text(name: str) -> Sniffed:
    return Sniffed("text", "text", TEXT_MIME.get(extension(name), "text/plain"))


def _by_extension(name: str) -> Sniffed | None:
    fmt = _EXTENSIONS.get(extension(name))
    if fmt == "text":
        return _text(name)
    return _of(fmt) if fmt else None


def _by_content_type(content_type: str | None, name: str) -> Sniffed | None:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    fmt = _MIME_FORMATS.get(mime)
    if fmt == "text" or (fmt is None and mime.startswith("text/")):
        return Sniffed("text", "text", mime)
    return _of(fmt) if fmt else None


# -- magic checks (each: head -> Sniffed | None) ---------------------------------------------


def _simple(head: bytes) -> Sniffed | None:
    """Formats identified by a fixed prefix."""
    if head.startswith(b"\xff\xd8\xff"):
        return _of("jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _of("png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _of("gif")
    if head.startswith(b"fLaC"):
        return _of("flac")
    if head.startswith(b"%PDF-"):
        return _of("pdf")
    return None


def _bmp(head: bytes) -> Sniffed | None:
    if head.startswith(b"BM") and len(head) >= 18:
        (header_size,) = struct.unpack_from("<I", head, 14)
        if header_size in _BMP_HEADER_SIZES:
            return _of("bmp")
    return None


def _riff(head: bytes) -> Sniffed | None:
    if not head.startswith(b"RIFF") or len(head) < 12:
        return None
    form = head[8:12]
    return {b"WEBP": _of("webp"), b"AVI ": _of("avi"), b"WAVE": _of("wav")}.get(form)


def _tiff(head: bytes) -> Sniffed | None:
    layout = tiff_header(head)
    if layout is None:
        return None
    tags = first_ifd_tags(head, layout)
    return _of("tiff", "raster" if tags & GEO_TAGS else "image")


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
            return _of(fmt)
    return _of("mp4")


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
    return _of("webm" if doctype == b"webm" else "mkv")


def _ogg(head: bytes) -> Sniffed | None:
    if not head.startswith(b"OggS"):
        return None
    segments = head[26] if len(head) > 26 else 0
    packet = head[27 + segments : 27 + segments + 8]
    if packet.startswith(b"\x80theora"):
        return _of("ogg", "video")
    return _of("ogg", "audio")  # vorbis, opus, speex, flac-in-ogg (and unknown: most likely)


def _mpeg_audio(head: bytes) -> Sniffed | None:
    """ADTS AAC or MPEG audio (mp3), possibly behind an ID3v2 tag."""
    start = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        start = 10 + size
        if start + 2 > len(head) or not _is_adts(head[start:]):
            return _of("mp3")  # the frame is beyond head: ID3 is (nearly) always mp3
    if _is_adts(head[start:]):
        return _of("aac")
    if _is_mp3_frame(head[start:]):
        return _of("mp3")
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
    return _of("pdf") if b"%PDF-" in head[:1024] else None


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
            return _of("text")
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


# -- text --------------------------------------------------------------------------------------


def is_text(head: bytes) -> bool:
    """No NUL bytes (unless a UTF-16/32 BOM says so) and a plausible character encoding."""
    sample = head[:TEXT_SAMPLE]
    if not sample:
        return False
    if sample.startswith(_BOMS):
        return True
    if b"\x00" in sample or _controls(sample) * 100 > len(sample):
        return False
    if _is_utf8(sample):
        return True
    best = from_bytes(sample).best()
    return best is not None and best.chaos < 0.3


def _controls(sample: bytes) -> int:
    return sum(1 for b in sample if b < 0x20 and b not in _TEXT_CONTROLS)


def _is_utf8(sample: bytes) -> bool:
    """Valid UTF-8, forgiving a multi-byte character cut at the end of the sample."""
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data" and exc.start >= len(sample) - 3
    return True
