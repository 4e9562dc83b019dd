"""Bounds on what one manifest row may hold, so hostile input costs bounded memory and time.

Every row's free-form values (``client_metadata`` / ``clientMetadata`` / Labelbox
``metadata_fields`` / Ango ``metadata``) and its text fields are checked once, after the row
was read and before anything else sees it (:func:`row_problem`): nesting depth, size as JSON,
integers within 64 bits, finite numbers, no NUL character (PostgreSQL text and JSONB refuse
it). A violation is that row's error; the other rows go on.

Structures are walked iteratively (never recursively), and the streaming JSON reader builds
items with :class:`ItemBuilder`, which stops building an item that nests deeper than
:data:`BUILD_DEPTH` or grows past :data:`MAX_ITEM_BYTES`: a 100,000-level document fails fast,
in constant memory, as one row error.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.models import ManifestItem

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH_SETTING = 200
# The streaming builder's own bound: deeper than any allowed value plus the row's wrappers
# (a Labelbox value sits 3 levels below its row), far below the recursion limit of anything
# that might touch a built item (json, pydantic).
BUILD_DEPTH = MAX_DEPTH_SETTING + 8
MAX_ITEM_BYTES = 16 << 20  # one row, as built; the same bound as one JSON Lines line
_DIGITS_19 = re.compile(r"\d{19}")
# one encoder (json.dumps builds a new one per call when given options)
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), check_circular=False)


class InputLimits(BaseModel):
    """``limits:`` in the config: what one manifest row may hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_metadata_depth: int = Field(
        default=32, ge=1, le=MAX_DEPTH_SETTING, description="nesting levels of a row's values"
    )
    max_metadata_bytes: int = Field(
        default=64 * 1024, ge=1024, le=MAX_ITEM_BYTES, description="size of a row value as JSON"
    )


DEFAULT_LIMITS = InputLimits()


class LimitExceeded(Exception):
    """A value breaks one of the limits; ``reason`` says which, without quoting the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_value(value: Any, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Raise :class:`LimitExceeded` if ``value`` (parsed JSON) breaks ``limits``.

    Depth: a scalar is 0 levels, ``{}``/``[]`` 1, ``{"a": []}`` 2. Size: the compact JSON
    length, counted while walking and stopped as soon as it passes the limit.
    """
    if not _clearly_within(value, limits, 0):
        _walk(value, limits)


def _clearly_within(value: Any, limits: InputLimits, wrappers: int) -> bool:
    """A sound shortcut at C speed: ``True`` only if ``value`` surely keeps ``limits``
    (``wrappers``: container levels the caller put around the values it checks).

    Its compact ASCII JSON is no longer than the size limit (never shorter than the UTF-8
    size), has no more brackets than levels allowed, no escaped NUL, no run of 19 digits (an
    int64 has at most 19) and no NaN/Infinity. Anything else goes to the exact walk.
    """
    try:
        text = _ENCODER.encode(value)
    except (ValueError, TypeError, RecursionError):
        return False
    return (
        len(text) <= limits.max_metadata_bytes + 2 * wrappers
        and text.count("[") + text.count("{") - wrappers <= limits.max_metadata_depth
        and "\\u0000" not in text
        and _DIGITS_19.search(text) is None
    )


def _walk(value: Any, limits: InputLimits) -> None:
    """The exact check: an iterative walk that stops at the first limit broken."""
    max_depth, max_bytes = limits.max_metadata_depth, limits.max_metadata_bytes
    size = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            depth += 1
            if depth > max_depth:
                raise LimitExceeded(_too_deep(max_depth))
            size += 1 + 2 * len(item) if item else 2  # braces, commas, colons
            for key, inner in item.items():
                size += _text_size(str(key)) + 2
                stack.append((inner, depth))
        elif isinstance(item, (list, tuple)):
            depth += 1
            if depth > max_depth:
                raise LimitExceeded(_too_deep(max_depth))
            size += 1 + len(item) if item else 2  # brackets, commas
            stack.extend((inner, depth) for inner in item)
        else:
            size += _scalar_size(item)
        if size > max_bytes:
            raise LimitExceeded(
                f"is larger than {max_bytes} bytes as JSON (limits.max_metadata_bytes)"
            )


def _too_deep(limit: int) -> str:
    return f"nests deeper than {limit} levels (limits.max_metadata_depth)"


def _text_size(text: str) -> int:
    if "\x00" in text:
        raise LimitExceeded("contains a NUL character (\\u0000)")
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _scalar_size(value: Any) -> int:
    if isinstance(value, str):
        return _text_size(value) + 2
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise LimitExceeded("holds an integer beyond 64 bits")
        return len(str(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LimitExceeded("holds a number that is not finite (NaN, Infinity, 1e400)")
        return len(repr(value))
    return 24  # not from JSON (a probe's datetime…): stored as text by the catalog


def row_problem(item: ManifestItem, limits: InputLimits = DEFAULT_LIMITS) -> tuple[str, str] | None:
    """``(field, reason)`` of the first limit a row breaks, or ``None``."""
    fields = (
        ("url", item.url),
        ("title", item.title),
        ("external_id", item.external_id),
        ("client_metadata", item.client_metadata or None),
    )
    for field, value in fields:
        if value is None or (isinstance(value, str) and _plain_text(value, limits)):
            continue  # the common case, decided without a walk
        try:
            check_value(value, limits)
        except LimitExceeded as exc:
            return field, exc.reason
    return None


def _plain_text(text: str, limits: InputLimits) -> bool:
    """A string surely within the size limit (≤ 4 UTF-8 bytes a character) and without NUL."""
    return len(text) * 4 + 2 <= limits.max_metadata_bytes and "\x00" not in text


# --- the streaming builder ------------------------------------------------------------------

_START = ("start_map", "start_array")
_END = ("end_map", "end_array")


class ItemTooBig(Exception):
    """The builder gave up on an item (its events up to the item's end were consumed)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def build_item(event: str, value: Any, events: Iterator[tuple[str, Any]]) -> Any:
    """The JSON value starting with ``(event, value)``, built from ``ijson.basic_parse``
    events; ``Decimal`` numbers become floats.

    Iterative, bounded by :data:`BUILD_DEPTH` levels and :data:`MAX_ITEM_BYTES` of text: past
    either, the rest of the value is skipped and :class:`ItemTooBig` raised, naming the item's
    top-level key under which it happened. (Hand-written rather than ``ijson.items``, whose
    per-event prefixes cost quadratic time and memory on deep input; kept lean: it runs for
    every event of a manifest.)
    """
    if event not in _START:
        return _number(value) if event == "number" else value
    root: Any = {} if event == "start_map" else []
    stack: list[Any] = [root]
    current, is_map, key = root, event == "start_map", ""
    size, top_key = 0, "item"
    for ev, val in events:
        if ev == "map_key":
            key = val
            size += len(val)
            if len(stack) == 1:
                top_key = val
            continue
        if ev == "string":
            size += len(val)
            if size > MAX_ITEM_BYTES:
                _skip(events, len(stack))
                raise ItemTooBig(top_key, f"is larger than {MAX_ITEM_BYTES >> 20} MiB")
        elif ev == "number":
            if type(val) is Decimal:
                val = float(val)
        elif ev == "start_map" or ev == "start_array":
            if len(stack) >= BUILD_DEPTH:
                _skip(events, len(stack) + 1)
                reason = f"nests deeper than {BUILD_DEPTH} levels (far past the limit)"
                raise ItemTooBig(top_key, reason)
            child: Any = {} if ev == "start_map" else []
            if is_map:
                current[key] = child
            else:
                current.append(child)
            stack.append(child)
            current, is_map = child, ev == "start_map"
            continue
        elif ev == "end_map" or ev == "end_array":
            stack.pop()
            if not stack:
                return root
            current = stack[-1]
            is_map = type(current) is dict
            continue
        if is_map:
            current[key] = val
        else:
            current.append(val)
    return root  # the events ended early: the parser reports that


def _number(value: Any) -> Any:
    """``Decimal`` (ijson's non-integers) as float; integers stay exact (checked later)."""
    return float(value) if isinstance(value, Decimal) else value


def _skip(events: Iterator[tuple[str, Any]], depth: int) -> None:
    """Consume events until ``depth`` open containers are closed."""
    for ev, _ in events:
        if ev in _START:
            depth += 1
        elif ev in _END:
            depth -= 1
            if depth == 0:
                return


def loads_bounded(text: str | bytes) -> Any:
    """``json.loads`` for one row (a JSON Lines line, a CSV cell): ``ValueError`` instead of
    ``RecursionError`` for absurd nesting or of a crash for a 5,000-digit integer."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


# Python refuses to turn more than 4,300 digits into an int (a DoS guard); inside ijson's C
# parser that refusal leaves an exception set and can crash the interpreter, so such a number
# must never reach it.
_INT_DIGITS = sys.get_int_max_str_digits() or 4300
MAX_DIGIT_RUN = min(4000, _INT_DIGITS - 1)
_DIGIT_MARKS = bytes(49 if 48 <= i <= 57 else 48 for i in range(256))  # digit → "1", else "0"


class DigitRuns:
    """Watches the bytes given to the JSON parser for a run of :data:`MAX_DIGIT_RUN`
    digits (across reads): ``ManifestError`` before the parser sees it. Linear, at C speed
    (``bytes.translate`` and ``find``); a digit run that long inside a string is refused too."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._tail = 0  # digits at the end of what was read so far
        self._run = b"1" * MAX_DIGIT_RUN

    def check(self, data: bytes) -> None:
        if not data:
            return
        marks = data.translate(_DIGIT_MARKS)
        lead = len(marks) - len(marks.lstrip(b"1"))
        if self._tail + lead >= MAX_DIGIT_RUN or marks.find(self._run) >= 0:
            raise ManifestError(
                f"{self.label}: a number has more than {MAX_DIGIT_RUN} digits; refused"
            )
        if lead == len(marks):
            self._tail += lead
        else:
            self._tail = len(marks) - len(marks.rstrip(b"1"))
