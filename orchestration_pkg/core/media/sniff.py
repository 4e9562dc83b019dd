"""What an object is, from its first bytes: magic numbers first, then extension, then type.

Content wins over names: a PNG called ``photo.jpg`` is a PNG, and a text file called
``x.png`` is text. The file name and the Content-Type are only consulted when the bytes say
nothing recognisable (empty, truncated or an unknown binary format). The magic-byte
checks themselves are in :mod:`.signatures`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from charset_normalizer import from_bytes

from orchestration_pkg.core.media.signatures import (
    BOM_CODECS,
    FORMAT_MIME,
    GEO_TAGS,
    TEXT_SAMPLE,
    UNKNOWN,
    Sniffed,
    TiffHeader,
    first_ifd_tags,
    mime_for,
    sniff_magic,
    tiff_header,
    verdict,
)

# Re-exported: the media probers import the signature helpers from here.
__all__ = [
    "BOM_CODECS",
    "GEO_TAGS",
    "TEXT_MIME",
    "TEXT_SAMPLE",
    "UNKNOWN",
    "Sniffed",
    "TiffHeader",
    "extension",
    "first_ifd_tags",
    "is_text",
    "mime_for",
    "sniff",
    "sniff_magic",
    "tiff_header",
]

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

_MIME_FORMATS = {mime: fmt for fmt, mime in FORMAT_MIME.items()} | {
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

_BOMS = tuple(bom for bom, _ in BOM_CODECS)
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b")


def sniff(head: bytes, *, name: str = "", content_type: str | None = None) -> Sniffed:
    """Kind and format of an object from its first bytes; ``name``/``content_type`` are hints."""
    found = sniff_magic(head)
    if (found is None and is_text(head)) or (found is not None and found.kind == "text"):
        found = _text(name)
    if found is None:
        found = _by_extension(name) or _by_content_type(content_type, name)
    return found or UNKNOWN


def extension(name: str) -> str:
    """Lower-case extension of a key, path or URL (query and fragment ignored)."""
    path = urlsplit(name).path if "://" in name else name
    base = path.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _text(name: str) -> Sniffed:
    return Sniffed("text", "text", TEXT_MIME.get(extension(name), "text/plain"))


def _by_extension(name: str) -> Sniffed | None:
    fmt = _EXTENSIONS.get(extension(name))
    if fmt == "text":
        return _text(name)
    return verdict(fmt) if fmt else None


def _by_content_type(content_type: str | None, name: str) -> Sniffed | None:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    fmt = _MIME_FORMATS.get(mime)
    if fmt == "text" or (fmt is None and mime.startswith("text/")):
        return Sniffed("text", "text", mime)
    return verdict(fmt) if fmt else None


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
