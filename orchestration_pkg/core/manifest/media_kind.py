"""Media kind guessed from a file extension."""

from __future__ import annotations

import re

from orchestration_pkg.core.models import MediaKind

_EXTENSION_KINDS: dict[str, MediaKind] = {
    **dict.fromkeys(
        ("jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp", "heic"), MediaKind.IMAGE
    ),
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "avi", "m4v"), MediaKind.VIDEO),
    **dict.fromkeys(("wav", "mp3", "flac", "ogg", "m4a", "aac"), MediaKind.AUDIO),
    "pdf": MediaKind.PDF,
    **dict.fromkeys(("txt", "md", "json", "csv", "html", "xml"), MediaKind.TEXT),
}


def guess_media_kind(url_or_key: str) -> MediaKind | None:
    """Media kind from the file extension of a URL or key (``None`` if unknown)."""
    path = url_or_key
    if "://" in path and path[:5].lower() != "s3://":
        path = re.split(r"[?#]", path, maxsplit=1)[0]
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _EXTENSION_KINDS.get(name.rsplit(".", 1)[1].lower())
