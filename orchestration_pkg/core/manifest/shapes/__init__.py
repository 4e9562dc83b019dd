"""Item shapes: each turns one parsed item into rows. Arrays and JSON Lines pick the shape from
their first object item; CSV from its URL column; an Encord object is always ``encord``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

from orchestration_pkg.core.manifest.shapes.ango import ango_item
from orchestration_pkg.core.manifest.shapes.fields import BadField, Row
from orchestration_pkg.core.manifest.shapes.labelbox import labelbox_item
from orchestration_pkg.core.manifest.shapes.native import native_item
from orchestration_pkg.core.models import RowError
from orchestration_pkg.core.unit_errors import raised_at

SHAPES = ("encord", "ango", "labelbox", "native")

# (row, item) as parsed, or a RowError for an item that could not be parsed
Value = tuple[int, Any] | RowError
ItemConverter = Callable[[int, Any], list[Row]]

_SHAPE_LOOKAHEAD = 100
_CONVERTERS: dict[str, ItemConverter] = {"ango": ango_item, "labelbox": labelbox_item}


def open_items(values: Iterator[Value]) -> tuple[str, Iterator[Row]]:
    """Decide the shape from the first object item, then convert every value."""
    seen: list[Value] = []
    shape = "native"
    for value in values:
        seen.append(value)
        if isinstance(value, tuple) and isinstance(value[1], dict):
            shape = item_shape(value[1])
            break
        if len(seen) >= _SHAPE_LOOKAHEAD:
            break
    convert = _CONVERTERS.get(shape, native_item)
    return shape, convert_values(chain(seen, values), convert)


def item_shape(item: dict[str, Any]) -> str:
    """The shape an item's keys point to (``native`` unless Labelbox or Ango keys are seen)."""
    if {"row_data", "global_key", "media_type", "metadata_fields"} & item.keys():
        return "labelbox"
    if {"data", "externalId"} & item.keys():
        return "ango"
    return "native"


def convert_values(values: Iterable[Value], convert: ItemConverter) -> Iterator[Row]:
    """Rows of every value; a ``BadField`` becomes that row's ``RowError``."""
    for value in values:
        if isinstance(value, RowError):
            yield value
            continue
        row, item = value
        try:
            rows = convert(row, item)
        except BadField as bad:
            yield RowError(row=row, field=bad.field, reason=bad.reason, url=bad.url)
        except Exception as exc:  # noqa: BLE001 - a converter bug stays this row's error
            yield unexpected_row_error(row, exc)
        else:
            yield from rows


def unexpected_row_error(row: int, exc: Exception) -> RowError:
    """The row error of an exception nobody foresaw while converting one row (a bug)."""
    reason = f"cannot be read: internal error {type(exc).__name__} at {raised_at(exc)}"
    return RowError(row=row, field="item", reason=reason)
