"""Sniffing lives in :mod:`.signatures` for now (a pure rename ahead of the split)."""

from orchestration_pkg.core.media.signatures import (
    BOM_CODECS,
    GEO_TAGS,
    TEXT_MIME,
    TiffHeader,
    extension,
    is_text,
    mime_for,
    sniff,
    sniff_magic,
    tiff_header,
)

__all__ = [
    "BOM_CODECS",
    "GEO_TAGS",
    "TEXT_MIME",
    "TiffHeader",
    "extension",
    "is_text",
    "mime_for",
    "sniff",
    "sniff_magic",
    "tiff_header",
]
