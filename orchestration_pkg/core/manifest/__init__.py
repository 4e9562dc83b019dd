"""Streaming manifest reader (see :mod:`.reader`)."""

from orchestration_pkg.core.manifest.reader import (
    ENCORD_LISTS,
    FORMATS,
    SHAPES,
    Manifest,
    Row,
    guess_media_kind,
    read_manifest,
)

__all__ = [
    "ENCORD_LISTS",
    "FORMATS",
    "SHAPES",
    "Manifest",
    "Row",
    "guess_media_kind",
    "read_manifest",
]
