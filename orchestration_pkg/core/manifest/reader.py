"""Streaming manifest reader: JSON, JSON Lines and CSV in the Encord, Ango, Labelbox and native
shapes, turned into :class:`ManifestItem` (good rows) and :class:`RowError` (bad rows).

Nothing is loaded whole: JSON is parsed with ``ijson`` and CSV / JSONL line by line, so memory
stays flat for any number of rows. Sources are local paths or binary streams that only offer
``read(n)`` (e.g. boto3's ``StreamingBody``).

Row numbers (``row``, 1-based):

* JSON and JSONL: the item's index over the whole manifest in file order (blank JSONL lines do
  not count; for Encord, items of all lists are counted in file order, and every URL of an
  image group / DICOM series carries the row of its group item);
* CSV: the row number a spreadsheet shows — the header is row 1, the first data row is row 2.

Whole-file problems (unreadable, not UTF-8, empty, broken structure) raise ``ManifestError``.
A syntax error in the middle of a JSON file, or bad bytes in the middle of any file, is only
found when the reader gets there: ``ManifestError`` is then raised *during* iteration, after
the rows before it were yielded. Callers must be ready for that (e.g. abort the job, or keep
the rows already registered and report the error). Exception: an Encord JSON object read from a
seekable source gets a first pass for its flags, which finds syntax errors up front.

Numbers in JSON are checked strictly (``"width": "600"`` or ``600.0`` is a row error); CSV cells
are text and converted (``600`` is fine, ``600.5`` or ``abc`` is a row error).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import ijson
from pydantic import ValidationError

from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.models import (
    ManifestFlags,
    ManifestItem,
    MediaKind,
    MediaMetadata,
    RowError,
)

Row = ManifestItem | RowError
_Value = tuple[int, Any] | RowError

FORMATS = ("json", "jsonl", "csv")
SHAPES = ("encord", "ango", "labelbox", "native")

ENCORD_LISTS: dict[str, MediaKind] = {
    "images": MediaKind.IMAGE,
    "videos": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "text": MediaKind.TEXT,
    "pdf": MediaKind.PDF,
    "image_groups": MediaKind.IMAGE_GROUP,
    "dicom_series": MediaKind.DICOM_SERIES,
}
_ENCORD_METADATA = {
    "images": "imageMetadata",
    "videos": "videoMetadata",
    "audio": "audioMetadata",
    "text": "textMetadata",
    "pdf": "pdfMetadata",
}
_GROUP_LISTS = ("image_groups", "dicom_series")
_FLAG_NAMES = frozenset(ManifestFlags.model_fields)

_MEDIA_FIELDS = tuple(MediaMetadata.model_fields)
_CAMEL = {
    "mime_type": "mimeType",
    "file_size": "fileSize",
    "sample_rate": "sampleRate",
    "bit_depth": "bitDepth",
    "num_channels": "numChannels",
}
_FROM_CAMEL = {_CAMEL.get(name, name): name for name in _MEDIA_FIELDS}

_NATIVE_KINDS = {
    k.value: k for k in MediaKind if k not in (MediaKind.IMAGE_GROUP, MediaKind.DICOM_SERIES)
}
_LABELBOX_KINDS = {
    "IMAGE": MediaKind.IMAGE,
    "VIDEO": MediaKind.VIDEO,
    "AUDIO": MediaKind.AUDIO,
    "TEXT": MediaKind.TEXT,
    "HTML": MediaKind.TEXT,
    "PDF": MediaKind.PDF,
    "DOCUMENT": MediaKind.PDF,
}
_EXTENSION_KINDS: dict[str, MediaKind] = {
    **dict.fromkeys(
        ("jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp", "heic"), MediaKind.IMAGE
    ),
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "avi", "m4v"), MediaKind.VIDEO),
    **dict.fromkeys(("wav", "mp3", "flac", "ogg", "m4a", "aac"), MediaKind.AUDIO),
    "pdf": MediaKind.PDF,
    **dict.fromkeys(("txt", "md", "json", "csv", "html", "xml"), MediaKind.TEXT),
}

# CSV columns: our name -> accepted header names (case-insensitive); in each row the first
# non-empty cell among them wins (e.g. a Labelbox title is global_key, else external_id).
_CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "url": ("url", "objectUrl", "row_data", "data"),
    "title": ("title", "global_key", "externalId", "external_id"),
    "external_id": ("external_id", "externalId", "global_key"),
    "media_kind": ("media_kind",),
    "media_type": ("media_type",),
    "client_metadata": ("client_metadata", "clientMetadata", "metadata"),
    **{name: tuple(dict.fromkeys((name, _CAMEL.get(name, name)))) for name in _MEDIA_FIELDS},
}
_CSV_SHAPES = {"url": "native", "objecturl": "encord", "row_data": "labelbox", "data": "ango"}
_CSV_DELIMITERS = (",", ";", "\t")

_CHUNK = 64 * 1024
_HEAD_LIMIT = 1 << 20
_MAX_LINE = 16 << 20
_SHAPE_LOOKAHEAD = 100
_BLANK = b" \t\r\n"
_OBJECT_URL_N = re.compile(r"objectUrl_(\d+)")
_ITEM_KEYS = frozenset(("url", "data", "row_data", "global_key", "externalId", "external_id"))
_START = ("start_map", "start_array")
_END = ("end_map", "end_array")


def guess_media_kind(url_or_key: str) -> MediaKind | None:
    """Media kind from the file extension of a URL or key (``None`` if unknown)."""
    path = url_or_key
    if "://" in path and path[:5].lower() != "s3://":
        path = re.split(r"[?#]", path, maxsplit=1)[0]
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _EXTENSION_KINDS.get(name.rsplit(".", 1)[1].lower())


class Manifest:
    """An opened manifest: ``format``, ``shape``, ``flags``, and its rows when iterated.

    Iterating yields ``ManifestItem | RowError`` in file order, once (the source is consumed).
    It may raise ``ManifestError`` part-way (see the module docstring). ``ignored_flags`` lists
    Encord flags that a non-seekable stream carried after the first item list: they could not
    be applied (``flags`` was fixed before the first row) and are known after iteration.
    """

    def __init__(
        self,
        *,
        name: str,
        format: str,
        shape: str,
        flags: ManifestFlags,
        rows: Iterator[Row],
        close: Callable[[], None],
        ignored_flags: list[str] | None = None,
    ) -> None:
        self.name = name
        self.format = format
        self.shape = shape
        self.flags = flags
        self.ignored_flags = ignored_flags if ignored_flags is not None else []
        self._rows = rows
        self._close = close
        self._used = False

    def __iter__(self) -> Iterator[Row]:
        if self._used:
            raise ManifestError(f"{self.name}: a manifest can be iterated only once")
        self._used = True
        try:
            yield from self._rows
        finally:
            self.close()

    def close(self) -> None:
        """Close the file this manifest opened (streams passed in are left open)."""
        self._close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Manifest({self.name!r}, format={self.format!r}, shape={self.shape!r})"


def read_manifest(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    name: str | None = None,
    fmt: str | None = None,
) -> Manifest:
    """Open a manifest from a local path or a binary stream and detect its format and shape.

    ``name`` (file name or S3 key) is used for messages and as the extension hint; ``fmt``
    (``json``, ``jsonl``/``ndjson`` or ``csv``) forces the format. Encord flags are read with a
    cheap first pass when the source is seekable; from a non-seekable stream only the flags
    written before the first item list are seen.
    """
    fmt = _check_format(fmt)
    stream, owned, label = _open_source(source, name)

    def close() -> None:
        if owned:
            stream.close()

    try:
        return _open(stream, label, fmt, close)
    except BaseException:
        close()
        raise


# --- opening and sniffing -----------------------------------------------------------------


def _check_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    value = fmt.lower().lstrip(".")
    value = "jsonl" if value == "ndjson" else value
    if value not in FORMATS:
        raise ManifestError(f"unknown manifest format {fmt!r}: use json, jsonl or csv")
    return value


def _open_source(source: Any, name: str | None) -> tuple[BinaryIO, bool, str]:
    """The binary stream to read, whether we own it, and the label used in messages."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or path.name
        try:
            return open(path, "rb"), True, label  # noqa: SIM115 (closed by Manifest)
        except OSError as exc:
            raise ManifestError(f"{label}: cannot open manifest: {exc.strerror or exc}") from None
    if not hasattr(source, "read"):
        raise ManifestError(f"cannot read a manifest from {type(source).__name__}")
    label = name or Path(str(getattr(source, "name", "") or "manifest")).name
    return source, False, label


def _extension_format(label: str) -> str | None:
    suffix = label.rsplit(".", 1)[-1].lower() if "." in label else ""
    return {"csv": "csv", "json": "json", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix)


class _Peeker:
    """Reads the first bytes of a stream (at most about 1 MiB), keeping them for replay."""

    def __init__(self, stream: BinaryIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.data = b""
        self.consumed = 0
        self.eof = False

    def fill(self, enough: Callable[[bytes], bool]) -> None:
        while not self.eof and not enough(self.data) and len(self.data) < _HEAD_LIMIT:
            try:
                chunk = self.stream.read(_CHUNK)
            except OSError as exc:
                raise ManifestError(f"{self.label}: cannot read manifest: {exc}") from None
            if isinstance(chunk, str):
                raise ManifestError(f"{self.label}: open the manifest in binary mode ('rb')")
            if chunk:
                self.data += chunk
                self.consumed += len(chunk)
            else:
                self.eof = True


class _Replay(io.RawIOBase):
    """A raw stream returning ``head`` first, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        if not data:
            return 0
        buffer[: len(data)] = data
        return len(data)


def _sniff(peek: _Peeker, fmt: str | None) -> tuple[str, bytes]:
    """Drop a UTF-8 BOM, check the file is not empty, decide the format; return it and the
    first significant byte."""
    peek.fill(lambda d: len(d) >= 4)
    if peek.data.startswith(codecs.BOM_UTF8):
        peek.data = peek.data[len(codecs.BOM_UTF8) :]
    elif peek.data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ManifestError(f"{peek.label}: manifest is UTF-16/32 encoded; save it as UTF-8")
    peek.fill(lambda d: bool(d.strip(_BLANK)))
    body = peek.data.lstrip(_BLANK)
    if not body:
        if peek.eof:
            raise ManifestError(f"{peek.label}: manifest is empty")
        raise ManifestError(f"{peek.label}: manifest starts with more than 1 MiB of blank space")
    first = body[:1]
    fmt = fmt or _extension_format(peek.label)
    if fmt in (None, "json") and first == b"{":
        return _json_or_jsonl(peek), first
    if fmt is None:
        return ("json" if first == b"[" else "csv"), first
    return fmt, first


def _json_or_jsonl(peek: _Peeker) -> str:
    """A file starting with ``{``: JSON Lines if its first line is a whole object followed by
    more lines (or is a lone line that looks like an item, e.g. has ``url``), else one JSON
    object."""
    start = len(peek.data) - len(peek.data.lstrip(_BLANK))
    peek.fill(lambda d: b"\n" in d[start:])
    end = peek.data.find(b"\n", start)
    if end < 0:
        if not peek.eof:
            return "json"
        end = len(peek.data)
    try:
        first = json.loads(peek.data[start:end])
    except ValueError:
        return "json"
    if not isinstance(first, dict):
        return "json"
    peek.fill(lambda d: bool(d[end + 1 :].strip(_BLANK)))
    more = bool(peek.data[end + 1 :].strip(_BLANK))
    return "jsonl" if more or _ITEM_KEYS & first.keys() else "json"


def _reader(head: bytes, stream: BinaryIO) -> io.BufferedReader:
    return io.BufferedReader(_Replay(head, stream), buffer_size=_CHUNK)


def _seek_start(stream: BinaryIO) -> int | None:
    """The current position if ``stream`` can seek back to it, else ``None``."""
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _open(stream: BinaryIO, label: str, fmt: str | None, close: Callable[[], None]) -> Manifest:
    start = _seek_start(stream)
    peek = _Peeker(stream, label)
    fmt, first = _sniff(peek, fmt)
    reader = _reader(peek.data, stream)
    common = {"name": label, "format": fmt, "close": close}
    if fmt == "csv":
        shape, rows = _open_csv(reader, label)
        return Manifest(shape=shape, flags=ManifestFlags(), rows=rows, **common)
    if fmt == "jsonl":
        shape, rows = _open_items(_jsonl_values(reader, label))
        return Manifest(shape=shape, flags=ManifestFlags(), rows=rows, **common)
    if first == b"[":
        shape, rows = _open_items(_array_values(reader, label))
        return Manifest(shape=shape, flags=ManifestFlags(), rows=rows, **common)
    if first != b"{":
        raise ManifestError(f"{label}: a JSON manifest must be an array [...] or an object {{...}}")
    known = None
    if start is not None:
        known = _scan_flags(reader, label)
        stream.seek(start + peek.consumed)
        reader = _reader(peek.data, stream)
    return _open_encord(reader, label, known, common)


# --- errors -------------------------------------------------------------------------------


class _Translate:
    """Turn parser, decoding and I/O errors into one-line ``ManifestError``s."""

    def __init__(self, label: str, where: Callable[[], str] = lambda: "") -> None:
        self.label = label
        self.where = where

    def __enter__(self) -> _Translate:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, ManifestError):
            return
        where = self.where()
        if isinstance(exc, ijson.JSONError):
            reason = _json_reason(exc)
            if "utf8" in reason.lower().replace("-", ""):
                raise ManifestError(f"{self.label}: not valid UTF-8{where}") from None
            raise ManifestError(f"{self.label}: invalid JSON{where}: {reason}") from None
        if isinstance(exc, UnicodeDecodeError):
            raise ManifestError(f"{self.label}: not valid UTF-8{where}") from None
        if isinstance(exc, csv.Error):
            raise ManifestError(f"{self.label}: invalid CSV{where}: {exc}") from None
        if isinstance(exc, OSError):
            raise ManifestError(f"{self.label}: cannot read manifest{where}: {exc}") from None


def _after(row: int) -> str:
    return f" after row {row}" if row else " before the first row"


def _not_utf8(text: str, label: str, row: int) -> None:
    """Raise if ``text`` (decoded with surrogateescape) held bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError(f"{label}: not valid UTF-8 at row {row}") from None


def _json_reason(exc: BaseException) -> str:
    """First line of a yajl message: the rest quotes the file, which may hold signed URLs."""
    text = str(exc)
    if text[:2] in ("b'", 'b"'):
        text = text[2:]
    text = re.split(r"\n|\\n", text, maxsplit=1)[0].strip()
    return text[:200] or type(exc).__name__


class _Bad(Exception):
    """A row problem found while converting one item."""

    def __init__(self, field: str, reason: str, url: str | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.url = url


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- JSON / JSONL values ------------------------------------------------------------------


def _array_values(reader: BinaryIO, label: str) -> Iterator[_Value]:
    """(row, item) for each element of a top-level JSON array."""
    row = 0
    with _Translate(label, lambda: _after(row)):
        for item in ijson.items(reader, "item", use_float=True):
            row += 1
            yield row, item


def _jsonl_values(reader: io.BufferedReader, label: str) -> Iterator[_Value]:
    """(row, item) for each non-blank line; a line that is not JSON gives a RowError."""
    row = 0
    with _Translate(label, lambda: f" at row {row}"):
        while True:
            line = reader.readline(_MAX_LINE + 1)
            if not line:
                return
            if len(line) > _MAX_LINE:
                raise ManifestError(f"{label}: row {row + 1} is longer than 16 MiB")
            line = line.strip()
            if not line:
                continue
            row += 1
            text = line.decode("utf-8")
            try:
                yield row, json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowError(
                    row=row, field="line", reason=f"invalid JSON: {exc.msg} at column {exc.colno}"
                )


def _open_items(values: Iterator[_Value]) -> tuple[str, Iterator[Row]]:
    """Decide the shape from the first object item, then convert every value."""
    seen: list[_Value] = []
    shape = "native"
    for value in values:
        seen.append(value)
        if isinstance(value, tuple) and isinstance(value[1], dict):
            shape = _item_shape(value[1])
            break
        if len(seen) >= _SHAPE_LOOKAHEAD:
            break
    convert = {"ango": _ango_item, "labelbox": _labelbox_item}.get(shape, _native_item)
    return shape, _convert(chain(seen, values), convert)


def _item_shape(item: dict[str, Any]) -> str:
    if {"row_data", "global_key", "media_type", "metadata_fields"} & item.keys():
        return "labelbox"
    if {"data", "externalId"} & item.keys():
        return "ango"
    return "native"


def _convert(values: Iterable[_Value], convert: Callable[[int, Any], list[Row]]) -> Iterator[Row]:
    for value in values:
        if isinstance(value, RowError):
            yield value
            continue
        row, item = value
        try:
            yield from convert(row, item)
        except _Bad as bad:
            yield RowError(row=row, field=bad.field, reason=bad.reason, url=bad.url)


# --- Encord object ------------------------------------------------------------------------

_Events = Iterator[tuple[str, str, Any]]


def _scan_flags(reader: BinaryIO, label: str) -> dict[str, bool]:
    """First pass over a seekable file: the top-level flags, wherever they are."""
    flags: dict[str, bool] = {}
    with _Translate(label):
        for prefix, event, value in ijson.parse(reader):
            if prefix in _FLAG_NAMES and event != "map_key" and prefix not in flags:
                flag = _flag_value(prefix, event, value, label)
                if flag is not None:
                    flags[prefix] = flag
    return flags


def _flag_value(key: str, event: str, value: Any, label: str) -> bool | None:
    if event == "null":
        return None
    if event != "boolean":
        raise ManifestError(f"{label}: top-level '{key}' must be true or false")
    return bool(value)


def _skip_value(event: str, events: _Events) -> None:
    if event not in _START:
        return
    depth = 1
    for _, ev, _ in events:
        if ev in _START:
            depth += 1
        elif ev in _END:
            depth -= 1
            if depth == 0:
                return


def _build_value(event: str, value: Any, events: _Events) -> Any:
    if event not in _START:
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for _, ev, val in events:
        builder.event(ev, val)
        if ev in _START:
            depth += 1
        elif ev in _END:
            depth -= 1
            if depth == 0:
                break
    return builder.value


def _next_list(events: _Events, label: str, flags: dict[str, bool]) -> str | None:
    """Walk top-level keys up to the next Encord list (positioned inside it); ``None`` at the
    end of the object. Flags met on the way go to ``flags``; unknown keys are skipped."""
    for _, event, key in events:
        if event != "map_key":
            return None
        _, event, value = next(events, ("", "end_map", None))
        if key in ENCORD_LISTS:
            if event != "start_array":
                raise ManifestError(f"{label}: top-level '{key}' must be a list")
            return key
        if key in _FLAG_NAMES:
            flag = _flag_value(key, event, value, label)
            if flag is not None:
                flags[key] = flag
        else:
            _skip_value(event, events)
    return None


def _open_encord(
    reader: BinaryIO, label: str, known: dict[str, bool] | None, common: dict[str, Any]
) -> Manifest:
    events = ijson.parse(reader, use_float=True)
    seen: dict[str, bool] = {}
    with _Translate(label):
        next(events, None)  # the top-level start_map
        first = _next_list(events, label, seen)
    if first is None:
        names = ", ".join(ENCORD_LISTS)
        raise ManifestError(f"{label}: the top-level JSON object has none of the lists {names}")
    ignored: list[str] = []
    late = ignored if known is None else None
    values = _encord_values(events, first, label, late)
    rows = _convert(values, _encord_item)
    flags = ManifestFlags(**(known if known is not None else seen))
    return Manifest(shape="encord", flags=flags, rows=rows, ignored_flags=ignored, **common)


def _encord_values(
    events: _Events, first: str, label: str, ignored: list[str] | None
) -> Iterator[_Value]:
    """(row, (list name, item)) for the items of every Encord list, in file order."""
    row = 0
    key: str | None = first
    with _Translate(label, lambda: _after(row)):
        while key is not None:
            for _, event, value in events:
                if event == "end_array":
                    break
                item = _build_value(event, value, events)
                row += 1
                yield row, (key, item)
            late: dict[str, bool] = {}
            key = _next_list(events, label, late)
            if ignored is not None:
                ignored.extend(name for name in late if name not in ignored)
        for _ in events:  # reach the end, so trailing garbage is reported
            pass


# --- CSV ----------------------------------------------------------------------------------

# our name -> the matching columns as (index, header name), in alias order
_Columns = dict[str, list[tuple[int, str]]]


def _open_csv(reader: io.BufferedReader, label: str) -> tuple[str, Iterator[Row]]:
    text = io.TextIOWrapper(reader, encoding="utf-8", errors="surrogateescape", newline="")
    blank = 0
    with _Translate(label, lambda: f" at row {blank + 1}"):
        header = text.readline()
        while header and not header.strip():
            blank += 1
            header = text.readline()
    _not_utf8(header, label, blank + 1)
    columns, delimiter = _csv_columns(header, label)
    shape = _CSV_SHAPES[columns["url"][0][1].lower()]
    return shape, _csv_rows(text, label, columns, delimiter, blank + 2)


def _csv_columns(header: str, label: str) -> tuple[_Columns, str]:
    for delimiter in _CSV_DELIMITERS:
        names = next(csv.reader([header], delimiter=delimiter), [])
        columns = _match_columns(names)
        if "url" in columns:
            return columns, delimiter
    names = [n.strip()[:40] for n in next(csv.reader([header]), [])]
    found = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise ManifestError(
        f"{label}: CSV header has no URL column (one of {', '.join(_CSV_COLUMNS['url'])}); "
        f"columns found: {found}"
    )


def _match_columns(names: list[str]) -> _Columns:
    index: dict[str, tuple[int, str]] = {}
    for i, name in enumerate(names):
        index.setdefault(name.strip().lower(), (i, name.strip()))
    columns: _Columns = {}
    for ours, aliases in _CSV_COLUMNS.items():
        found = [index[alias.lower()] for alias in aliases if alias.lower() in index]
        if found:
            columns[ours] = found
    return columns


def _csv_rows(
    text: io.TextIOWrapper, label: str, columns: _Columns, delimiter: str, row: int
) -> Iterator[Row]:
    with _Translate(label, lambda: f" at row {row}"):
        for cells in csv.reader(text, delimiter=delimiter):
            _not_utf8("".join(cells), label, row)
            if any(cell.strip() for cell in cells):
                try:
                    yield _csv_item(row, cells, columns)
                except _Bad as bad:
                    yield RowError(row=row, field=bad.field, reason=bad.reason, url=bad.url)
            row += 1


def _csv_item(row: int, cells: list[str], columns: _Columns) -> ManifestItem:
    def cell(ours: str) -> tuple[str | None, str]:
        """The first non-empty cell of our field's columns, and that column's name."""
        specs = columns.get(ours, [(len(cells), ours)])
        for index, name in specs:
            value = cells[index].strip() if index < len(cells) else ""
            if value:
                return value, name
        return None, specs[0][1]

    url, url_column = cell("url")
    if url is None:
        raise _Bad(url_column, "is empty")
    kind_field = "media_kind" if "media_kind" in columns else "media_type"
    names = _NATIVE_KINDS if kind_field == "media_kind" else _LABELBOX_KINDS
    kind = _kind(*cell(kind_field), names, url)
    meta_text, meta_column = cell("client_metadata")
    meta = _json_object_cell(meta_text, meta_column, url) if meta_text else {}
    given: dict[str, tuple[str, Any]] = {}
    for ours in _MEDIA_FIELDS:
        if ours in columns:
            value, column = cell(ours)
            given[ours] = (column, value)
    return _item(
        row,
        url,
        title=cell("title")[0],
        external_id=cell("external_id")[0],
        kind=kind,
        meta=meta,
        given=_media(given, url, strict=False),
    )


def _json_object_cell(text: str, column: str, url: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(column, f"is not valid JSON: {exc.msg} at column {exc.colno}", url) from None
    if not isinstance(value, dict):
        raise _Bad(column, f"must be a JSON object, not {_json_type(value)}", url)
    return value


# --- item conversion ----------------------------------------------------------------------


def _need_object(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _Bad("item", f"must be a JSON object, not {_json_type(item)}")
    return item


def _url(item: dict[str, Any], field: str) -> str:
    if field not in item:
        raise _Bad(field, "missing")
    return _check_url(field, item[field])


def _check_url(field: str, value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Bad(field, "is empty")
    if not isinstance(value, str):
        raise _Bad(field, f"must be a string, not {_json_type(value)}")
    return value


def _text(item: dict[str, Any], field: str, url: str) -> str | None:
    value = item.get(field)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Bad(field, f"must be a string, not {_json_type(value)}", url)


def _object(item: dict[str, Any], field: str, url: str) -> dict[str, Any]:
    value = item.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(field, f"must be a JSON object, not {_json_type(value)}", url)
    return value


def _kind(value: Any, field: str, names: dict[str, MediaKind], url: str) -> MediaKind | None:
    """A media kind named in the manifest (case-insensitive); guessed from the URL if absent."""
    if value is None or value == "":
        return guess_media_kind(url)
    if not isinstance(value, str):
        raise _Bad(field, f"must be a string, not {_json_type(value)}", url)
    kind = names.get(value.strip().lower()) or names.get(value.strip().upper())
    if kind is None:
        allowed = ", ".join(names)
        raise _Bad(field, f"unknown value {value[:40]!r} (expected one of {allowed})", url)
    return kind


def _media(given: dict[str, tuple[str, Any]], url: str, *, strict: bool) -> MediaMetadata:
    """Validate metadata given as ``{our name: (field name in the file, value)}``."""
    values = {ours: value for ours, (_, value) in given.items() if value is not None}
    if not values:
        return MediaMetadata()
    try:
        return MediaMetadata.model_validate(values, strict=strict)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        ours = str(error["loc"][0]) if error["loc"] else ""
        field = given[ours][0] if ours in given else ours
        reason = str(error["msg"]).replace("Input should be", "must be")[:200]
        raise _Bad(field, reason, url) from None


def _item(
    row: int,
    url: str,
    *,
    title: str | None = None,
    external_id: str | None = None,
    kind: MediaKind | None = None,
    meta: dict[str, Any] | None = None,
    given: MediaMetadata | None = None,
) -> ManifestItem:
    """Build a ManifestItem from already-checked values."""
    return ManifestItem(
        row=row,
        url=url,
        title=title,
        external_id=external_id,
        media_kind=kind,
        client_metadata=meta if meta is not None else {},
        given=given if given is not None else MediaMetadata(),
    )


def _native_item(row: int, item: Any) -> list[Row]:
    item = _need_object(item)
    url = _url(item, "url")
    given = {name: (name, item.get(name)) for name in _MEDIA_FIELDS if name in item}
    return [
        _item(
            row,
            url,
            title=_text(item, "title", url),
            external_id=_text(item, "external_id", url),
            kind=_kind(item.get("media_kind"), "media_kind", _NATIVE_KINDS, url),
            meta=_object(item, "client_metadata", url),
            given=_media(given, url, strict=True),
        )
    ]


def _ango_item(row: int, item: Any) -> list[Row]:
    item = _need_object(item)
    url = _url(item, "data")
    external_id = _text(item, "externalId", url)
    given = {name: (name, item.get(name)) for name in ("width", "height")}
    return [
        _item(
            row,
            url,
            title=external_id,
            external_id=external_id,
            kind=guess_media_kind(url),
            meta=_object(item, "metadata", url),
            given=_media(given, url, strict=True),
        )
    ]


def _labelbox_item(row: int, item: Any) -> list[Row]:
    item = _need_object(item)
    url = _url(item, "row_data")
    global_key = _text(item, "global_key", url)
    external_id = _text(item, "external_id", url)
    return [
        _item(
            row,
            url,
            title=global_key or external_id,
            external_id=external_id or global_key,
            kind=_kind(item.get("media_type"), "media_type", _LABELBOX_KINDS, url),
            meta=_metadata_fields(item, url),
        )
    ]


def _metadata_fields(item: dict[str, Any], url: str) -> dict[str, Any]:
    """Labelbox ``metadata_fields: [{"name": ..., "value": ...}]`` as ``{name: value}``."""
    fields = item.get("metadata_fields")
    if fields is None:
        return {}
    if not isinstance(fields, list):
        raise _Bad("metadata_fields", f"must be an array, not {_json_type(fields)}", url)
    meta: dict[str, Any] = {}
    for i, entry in enumerate(fields):
        if not isinstance(entry, dict):
            raise _Bad(f"metadata_fields[{i}]", "must be an object with name and value", url)
        name = entry.get("name") or entry.get("schema_id")
        if not isinstance(name, str):
            raise _Bad(f"metadata_fields[{i}].name", "missing", url)
        meta[name] = entry.get("value")
    return meta


def _encord_item(row: int, value: tuple[str, Any]) -> list[Row]:
    list_name, item = value
    item = _need_object(item)
    kind = ENCORD_LISTS[list_name]
    if list_name in _GROUP_LISTS:
        return _encord_group(row, kind, item)
    url = _url(item, "objectUrl")
    return [
        _item(
            row,
            url,
            title=_text(item, "title", url),
            kind=kind,
            meta=_object(item, "clientMetadata", url),
            given=_encord_metadata(item, _ENCORD_METADATA[list_name], url),
        )
    ]


def _encord_metadata(item: dict[str, Any], field: str, url: str) -> MediaMetadata:
    block = _object(item, field, url)
    given = {
        _FROM_CAMEL[key]: (f"{field}.{key}", value)
        for key, value in block.items()
        if key in _FROM_CAMEL
    }
    return _media(given, url, strict=True)


def _encord_group(row: int, kind: MediaKind, item: dict[str, Any]) -> list[Row]:
    """One item per URL of an image group / DICOM series, sharing the group's row."""
    urls = _group_urls(item)
    title = _text(item, "title", urls[0])
    meta = _object(item, "clientMetadata", urls[0])
    return [
        _item(row, url, kind=kind, meta={**meta, "group_title": title, "group_index": i})
        for i, url in enumerate(urls)
    ]


def _group_urls(item: dict[str, Any]) -> list[str]:
    numbered = sorted(
        (int(match.group(1)), key)
        for key in item
        if (match := _OBJECT_URL_N.fullmatch(key)) is not None
    )
    if numbered:
        return [_check_url(key, item[key]) for _, key in numbered]
    for field in ("objectUrls", "imageGroup"):
        if field in item:
            entries = item[field]
            if not isinstance(entries, list) or not entries:
                raise _Bad(field, "must be a non-empty array of URLs")
            return [_group_entry(f"{field}[{i}]", entry) for i, entry in enumerate(entries)]
    raise _Bad("objectUrl_0", "missing: a group needs objectUrl_0, objectUrl_1, ...")


def _group_entry(field: str, entry: Any) -> str:
    if isinstance(entry, dict):
        return _check_url(f"{field}.objectUrl", entry.get("objectUrl"))
    return _check_url(field, entry)
