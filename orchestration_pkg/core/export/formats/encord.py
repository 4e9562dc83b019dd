"""Encord's JSON upload spec: ``{"images": [...], "videos": [...], "audio": [...], "text": [...],
"pdf": [...], "image_groups": [...], "dicom_series": [...], "skip_duplicate_urls": true}``.

Each item: ``objectUrl``, optional ``title`` and ``clientMetadata``, and the media block of its
list when every field of it is known (Encord's ``CustomerProvided*Metadata``: all fields
required), so an integration in strict client-only mode never has to fetch the file. Images
stream straight to the output; the other lists are spooled to temporary files and appended
(a JSON object's member order does not matter), so memory stays flat. Image groups, image
sequences and DICOM series are rebuilt from their member rows (:mod:`.encord_groups`).
"""

from __future__ import annotations

import shutil
import tempfile
from typing import IO, Any, ClassVar

from orchestration_pkg.core.export.formats.base import ExportFormat, JsonArray, dumps, media_value
from orchestration_pkg.core.export.formats.encord_groups import GROUP_LISTS, GroupSpool, group_title
from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.export.urls import UrlStyle

# catalog media kind → Encord list
LISTS = {
    "image": "images",
    "image_group": "images",  # a member without a group title: a single image
    "dicom_series": "dicom_series",
    "video": "videos",
    "audio": "audio",
    "text": "text",
    "pdf": "pdf",
}
# Encord list → (metadata block, [(Encord field, our field)]), as in encord.orm.storage
BLOCKS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "images": (
        "imageMetadata",
        [("mimeType", "mime_type"), ("fileSize", "file_size"), ("width", "width"),
         ("height", "height")],
    ),
    "videos": (
        "videoMetadata",
        [("fps", "fps"), ("duration", "duration"), ("width", "width"), ("height", "height"),
         ("fileSize", "file_size"), ("mimeType", "mime_type")],
    ),
    "audio": (
        "audioMetadata",
        [("duration", "duration"), ("fileSize", "file_size"), ("mimeType", "mime_type"),
         ("sampleRate", "sample_rate"), ("bitDepth", "bit_depth"), ("codec", "codec"),
         ("numChannels", "num_channels")],
    ),
    "text": ("textMetadata", [("fileSize", "file_size"), ("mimeType", "mime_type")]),
    "pdf": ("pdfMetadata", [("fileSize", "file_size"), ("numPages", "page_count")]),
}  # fmt: skip
_SPOOLED = ("videos", "audio", "text", "pdf")
_COPY_CHUNK = 64 * 1024  # characters per read when appending a spooled list


def media_block(list_name: str, row: ExportRow) -> tuple[str, dict[str, Any] | None]:
    """(block name, the complete block or None when a field is unknown)."""
    block, fields = BLOCKS[list_name]
    values = {theirs: media_value(row, ours) for theirs, ours in fields}
    if any(v is None for v in values.values()):
        return block, None
    return block, values


class EncordFormat(ExportFormat):
    name: ClassVar[str] = "encord"
    url_style: ClassVar[UrlStyle] = "s3_https"
    description: ClassVar[str] = (
        "Encord JSON upload spec (images/videos/audio/text/pdf, image groups, DICOM series)"
    )

    def open(self) -> None:
        self.out.write('{"images":')
        self._images = JsonArray(self.out)
        self._images.open()
        self._spools: dict[str, tuple[IO[str], JsonArray]] = {}
        self._groups: GroupSpool | None = None

    def skip_reason(self, row: ExportRow) -> str | None:
        if row.media_kind not in LISTS:
            return f"{row.media_kind or 'unknown'} files have no Encord list"
        return None

    def add(self, row: ExportRow, url: str) -> None:
        kind = row.media_kind or ""
        if kind in GROUP_LISTS and (kind == "dicom_series" or group_title(row.client_metadata)):
            self._group(GROUP_LISTS[kind], row, url)
            return
        list_name = LISTS[kind]
        item: dict[str, Any] = {"objectUrl": url}
        if row.title:
            item["title"] = row.title
        if row.client_metadata:
            item["clientMetadata"] = row.client_metadata
        block, values = media_block(list_name, row)
        if values is None:
            self.notes[f"without a complete {block}"] += 1
        else:
            item[block] = values
        self._array(list_name).add(item)
        self.written += 1

    def _group(self, list_name: str, row: ExportRow, url: str) -> None:
        meta = row.client_metadata
        if group_title(meta) is None:  # a DICOM file registered on its own: a series of one
            meta = {**meta, "group_title": row.title or row.key, "group_index": 0}
        if self._groups is None:
            self._groups = GroupSpool()
        self._groups.add(list_name, row.id, url, meta)
        self.written += 1

    def _array(self, list_name: str) -> JsonArray:
        if list_name == "images":
            return self._images
        if list_name not in self._spools:
            spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
            array = JsonArray(spool)
            array.open()
            self._spools[list_name] = (spool, array)
        return self._spools[list_name][1]

    def close(self) -> None:
        self._images.close()
        for list_name in _SPOOLED:
            if list_name not in self._spools:
                continue
            spool, array = self._spools[list_name]
            array.close()
            spool.seek(0)
            self.out.write(f",\n{dumps(list_name)}:")
            shutil.copyfileobj(spool, self.out, _COPY_CHUNK)
            spool.close()
        if self._groups is not None:
            for list_name in ("image_groups", "dicom_series"):
                array: JsonArray | None = None
                for item in self._groups.groups(list_name):
                    if array is None:
                        self.out.write(f",\n{dumps(list_name)}:")
                        array = JsonArray(self.out)
                        array.open()
                    array.add(item)
                if array is not None:
                    array.close()
            self._groups.close()
            self._groups = None
        self.out.write(',\n"skip_duplicate_urls":true}\n')

    def discard(self) -> None:
        """Close the spools of an export that failed half-way."""
        for spool, _ in getattr(self, "_spools", {}).values():
            spool.close()
        if getattr(self, "_groups", None) is not None:
            self._groups.close()
