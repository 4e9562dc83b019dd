"""What every export format shares: the writer interface and hand-streamed JSON containers.

Formats never hold the rows: each element is ``json.dumps``-ed and written as it comes, so a
1,000,000-row folder exports in the memory of one page of rows. JSON arrays and objects are
streamed by hand (the separators written around each element) because ``json.dump`` needs
the whole document in memory.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar, TextIO

from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.export.urls import UrlStyle


def dumps(value: Any) -> str:
    """One compact JSON value (UTF-8 text kept as it is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JsonArray:
    """``[`` element ``,`` element … ``]`` written one element at a time."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0

    def open(self) -> None:
        self.out.write("[")

    def add(self, value: Any) -> None:
        self.out.write(("\n" if self.count == 0 else ",\n") + dumps(value))
        self.count += 1

    def close(self) -> None:
        self.out.write("\n]" if self.count else "]")


class ExportFormat:
    """One output format: ``skip_reason`` first (no URL is made for a skipped row), then
    ``add`` with the row's URL; ``open``/``close`` around them. ``notes`` counts things worth a
    warning that did not stop a row (e.g. incomplete Encord metadata)."""

    name: ClassVar[str]
    url_style: ClassVar[UrlStyle] = "stored"
    description: ClassVar[str] = ""

    def __init__(self, out: TextIO, folder: str) -> None:
        self.out = out
        self.folder = folder
        self.written = 0
        self.notes: Counter[str] = Counter()

    def open(self) -> None:
        """Write what comes before the first row."""

    def skip_reason(self, row: ExportRow) -> str | None:
        """Why ``row`` cannot be written in this format (None: it can)."""
        return None

    def add(self, row: ExportRow, url: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Write what comes after the last row (also for an empty export)."""


def media_value(row: ExportRow, name: str) -> Any:
    """A media fact of the row: the typed column where there is one, else media_metadata."""
    if name == "width" and row.width is not None:
        return row.width
    if name == "height" and row.height is not None:
        return row.height
    if name == "file_size":
        value = row.media_metadata.get("file_size")
        return value if value is not None else row.size
    if name == "mime_type":
        return row.media_metadata.get("mime_type") or row.content_type
    return row.media_metadata.get(name)


def display_size(row: ExportRow) -> tuple[int | None, int | None]:
    """(width, height) as the image is shown: swapped for EXIF orientations 5–8."""
    meta = row.media_metadata
    if meta.get("display_width") and meta.get("display_height"):
        return meta["display_width"], meta["display_height"]
    width, height = media_value(row, "width"), media_value(row, "height")
    orientation = meta.get("orientation")
    if isinstance(orientation, int) and orientation > 4:
        return height, width
    return width, height
