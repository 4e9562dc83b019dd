"""CSV manifests: a header naming the columns (native, Encord, Labelbox or Ango names, any
case; ``,``, ``;`` or tab delimited), then one item per row. Cells are text and converted."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.manifest.limits import MAX_ITEM_BYTES, loads_bounded
from orchestration_pkg.core.manifest.parse_errors import Translate, check_utf8
from orchestration_pkg.core.manifest.shapes import unexpected_row_error
from orchestration_pkg.core.manifest.shapes.fields import (
    CAMEL,
    MEDIA_FIELDS,
    BadField,
    Row,
    json_type,
    kind_value,
    make_item,
    media_metadata,
)
from orchestration_pkg.core.manifest.shapes.labelbox import LABELBOX_KINDS
from orchestration_pkg.core.manifest.shapes.native import NATIVE_KINDS
from orchestration_pkg.core.models import ManifestItem, RowError

# CSV columns: our name -> accepted header names (case-insensitive); in each row the first
# non-empty cell among them wins (e.g. a Labelbox title is global_key, else external_id).
_CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "url": ("url", "objectUrl", "row_data", "data"),
    "title": ("title", "global_key", "externalId", "external_id"),
    "external_id": ("external_id", "externalId", "global_key"),
    "media_kind": ("media_kind",),
    "media_type": ("media_type",),
    "client_metadata": ("client_metadata", "clientMetadata", "metadata"),
    **{name: tuple(dict.fromkeys((name, CAMEL.get(name, name)))) for name in MEDIA_FIELDS},
}
_CSV_SHAPES = {"url": "native", "objecturl": "encord", "row_data": "labelbox", "data": "ango"}
_CSV_DELIMITERS = (",", ";", "\t")
# The csv module's field limit (128 KiB by default) ends the whole file at one big cell; with
# it as high as a JSON Lines line, a big cell is that row's error (limits.max_metadata_bytes).
# The limit is process-wide: it is only ever raised here, never lowered.
csv.field_size_limit(max(csv.field_size_limit(), MAX_ITEM_BYTES))

# our name -> the matching columns as (index, header name), in alias order
_Columns = dict[str, list[tuple[int, str]]]


def open_csv(reader: io.BufferedReader, label: str) -> tuple[str, Iterator[Row]]:
    """Read the header: the shape (from the URL column's name) and the rows to come."""
    text = io.TextIOWrapper(reader, encoding="utf-8", errors="surrogateescape", newline="")
    blank = 0
    with Translate(label, lambda: f" at row {blank + 1}"):
        header = text.readline()
        while header and not header.strip():
            blank += 1
            header = text.readline()
    check_utf8(header, label, blank + 1)
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
    with Translate(label, lambda: f" at row {row}"):
        for cells in csv.reader(text, delimiter=delimiter):
            check_utf8("".join(cells), label, row)
            if any(cell.strip() for cell in cells):
                try:
                    item: Row = _csv_item(row, cells, columns)
                except BadField as bad:
                    item = RowError(row=row, field=bad.field, reason=bad.reason, url=bad.url)
                except Exception as exc:  # noqa: BLE001 - a converter bug stays this row's error
                    item = unexpected_row_error(row, exc)
                yield item
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
        raise BadField(url_column, "is empty")
    kind_field = "media_kind" if "media_kind" in columns else "media_type"
    names = NATIVE_KINDS if kind_field == "media_kind" else LABELBOX_KINDS
    kind = kind_value(*cell(kind_field), names, url)
    meta_text, meta_column = cell("client_metadata")
    meta = _json_object_cell(meta_text, meta_column, url) if meta_text else {}
    given: dict[str, tuple[str, Any]] = {}
    for ours in MEDIA_FIELDS:
        if ours in columns:
            value, column = cell(ours)
            given[ours] = (column, value)
    return make_item(
        row,
        url,
        title=cell("title")[0],
        external_id=cell("external_id")[0],
        kind=kind,
        meta=meta,
        given=media_metadata(given, url, strict=False),
    )


def _json_object_cell(text: str, column: str, url: str) -> dict[str, Any]:
    try:
        value = loads_bounded(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno} of the cell"
        raise BadField(column, f"is not valid JSON at {where}: {exc.msg}", url) from None
    except ValueError as exc:  # nested too deeply, an integer of 4,300+ digits
        raise BadField(column, f"cannot be read: {str(exc)[:80]}", url) from None
    if not isinstance(value, dict):
        raise BadField(column, f"must be a JSON object, not {json_type(value)}", url)
    return value
