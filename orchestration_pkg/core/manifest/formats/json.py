"""JSON manifests, parsed with ``ijson``: a top-level array of items (any item shape) or an
Encord object whose lists (``images``, ``videos``...) hold the items and whose top-level
flags (``skip_duplicate_urls``...) may come before or after them. A syntax error is reported
with its line and column (see :mod:`.json_position`).

Events come from ``ijson.basic_parse`` (no prefixes: building a prefix per event costs
quadratic time and memory on deeply nested input) and items are built by
:func:`~orchestration_pkg.core.manifest.limits.build_item`, which bounds depth and size: an
item past them is that row's error. Numbers are read exactly (no ``use_float``: yajl's
``long long`` would reject an integer beyond 64 bits for the whole file)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.manifest.formats.json_position import LocateError
from orchestration_pkg.core.manifest.limits import ItemTooBig, build_item
from orchestration_pkg.core.manifest.parse_errors import Translate, after
from orchestration_pkg.core.manifest.shapes import Value, convert_values
from orchestration_pkg.core.manifest.shapes.encord import ENCORD_LISTS, encord_item
from orchestration_pkg.core.manifest.shapes.fields import Row
from orchestration_pkg.core.models import ManifestFlags, RowError

_Events = Iterator[tuple[str, Any]]

_FLAG_NAMES = frozenset(ManifestFlags.model_fields)
_START = ("start_map", "start_array")
_END = ("end_map", "end_array")


def array_values(reader: BinaryIO, label: str, locate: LocateError) -> Iterator[Value]:
    """(row, item) for each element of a top-level JSON array (a RowError for an item too
    deep or too big to build)."""
    row = 0
    with Translate(label, lambda: after(row), locate):
        events = ijson.basic_parse(reader)
        event, _ = next(events, ("end_array", None))  # the top-level start_array
        if event != "start_array":
            return
        for event, value in events:
            if event == "end_array":
                break
            built = _built(row + 1, event, value, events)
            row += 1  # after building: a syntax error inside the item is "after" the last row
            yield built
        for _ in events:  # reach the end, so trailing garbage is reported
            pass


def _built(row: int, event: str, value: Any, events: _Events) -> Value:
    try:
        return row, build_item(event, value, events)
    except ItemTooBig as big:
        return RowError(row=row, field=big.field, reason=big.reason)


# --- Encord object ------------------------------------------------------------------------


def scan_flags(reader: BinaryIO, label: str, locate: LocateError) -> dict[str, bool]:
    """First pass over a seekable file: the top-level flags, wherever they are."""
    flags: dict[str, bool] = {}
    depth = 0
    key: str | None = None  # the top-level key whose value comes next
    with Translate(label, locate=locate):
        for event, value in ijson.basic_parse(reader):
            if depth == 1 and event == "map_key":
                key = value
                continue
            if key in _FLAG_NAMES and key not in flags:
                flag = _flag_value(key, event, value, label)
                if flag is not None:
                    flags[key] = flag
            key = None
            if event in _START:
                depth += 1
            elif event in _END:
                depth -= 1
    return flags


def open_encord(
    reader: BinaryIO, label: str, known: dict[str, bool] | None, locate: LocateError
) -> tuple[ManifestFlags, Iterator[Row], list[str]]:
    """Flags, rows and (filled during iteration) ignored late flags of an Encord object.

    ``known`` are the flags of a first pass (seekable sources); without it, only the flags
    before the first list apply and later ones are listed as ignored.
    """
    events = ijson.basic_parse(reader)
    seen: dict[str, bool] = {}
    with Translate(label, locate=locate):
        next(events, None)  # the top-level start_map
        first = _next_list(events, label, seen)
    if first is None:
        names = ", ".join(ENCORD_LISTS)
        raise ManifestError(f"{label}: the top-level JSON object has none of the lists {names}")
    ignored: list[str] = []
    late = ignored if known is None else None
    values = _encord_values(events, first, label, late, locate)
    rows = convert_values(values, encord_item)
    flags = ManifestFlags(**(known if known is not None else seen))
    return flags, rows, ignored


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
    for ev, _ in events:
        if ev in _START:
            depth += 1
        elif ev in _END:
            depth -= 1
            if depth == 0:
                return


def _next_list(events: _Events, label: str, flags: dict[str, bool]) -> str | None:
    """Walk top-level keys up to the next Encord list (positioned inside it); ``None`` at the
    end of the object. Flags met on the way go to ``flags``; unknown keys are skipped."""
    for event, key in events:
        if event != "map_key":
            return None
        event, value = next(events, ("end_map", None))
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


def _encord_values(
    events: _Events, first: str, label: str, ignored: list[str] | None, locate: LocateError
) -> Iterator[Value]:
    """(row, (list name, item)) for the items of every Encord list, in file order."""
    row = 0
    key: str | None = first
    with Translate(label, lambda: after(row), locate):
        while key is not None:
            for event, value in events:
                if event == "end_array":
                    break
                built = _built(row + 1, event, value, events)
                row += 1
                yield built if isinstance(built, RowError) else (row, (key, built[1]))
            late: dict[str, bool] = {}
            key = _next_list(events, label, late)
            if ignored is not None:
                ignored.extend(name for name in late if name not in ignored)
        for _ in events:  # reach the end, so trailing garbage is reported
            pass
