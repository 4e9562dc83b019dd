"""Opening a manifest: the source (path or binary stream), format sniffing, and the
:class:`Manifest` whose iteration yields the rows."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.manifest.formats.csv import open_csv
from orchestration_pkg.core.manifest.formats.json import array_values, open_encord, scan_flags
from orchestration_pkg.core.manifest.formats.json_position import JsonSource
from orchestration_pkg.core.manifest.formats.jsonl import jsonl_values
from orchestration_pkg.core.manifest.limits import DEFAULT_LIMITS, InputLimits, row_problem
from orchestration_pkg.core.manifest.shapes import open_items
from orchestration_pkg.core.manifest.shapes.fields import Row
from orchestration_pkg.core.manifest.sniff import Peeker, check_format, replay, sniff
from orchestration_pkg.core.models import ManifestFlags, ManifestItem, RowError


class Manifest:
    """An opened manifest: ``format``, ``shape``, ``flags``, and its rows when iterated.

    Iterating yields ``ManifestItem | RowError`` in file order, once (the source is consumed).
    It may raise ``ManifestError`` part-way (see the package docstring). ``ignored_flags``
    lists Encord flags that a non-seekable stream carried after the first item list: they
    could not be applied (``flags`` was fixed before the first row) and are known after
    iteration. A row breaking ``limits`` (see :mod:`.limits`) is yielded as its RowError.
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
        limits: InputLimits = DEFAULT_LIMITS,
    ) -> None:
        self.name = name
        self.limits = limits
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
            for row in self._rows:
                yield self._checked(row)
        finally:
            self.close()

    def _checked(self, row: Row) -> Row:
        if not isinstance(row, ManifestItem):
            return row
        problem = row_problem(row, self.limits)
        if problem is None:
            return row
        field, reason = problem
        url = row.url if field != "url" else None
        return RowError(row=row.row, field=field, reason=reason, url=url)

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
    limits: InputLimits = DEFAULT_LIMITS,
) -> Manifest:
    """Open a manifest from a local path or a binary stream and detect its format and shape.

    ``name`` (file name or S3 key) is used for messages and as the extension hint; ``fmt``
    (``json``, ``jsonl``/``ndjson`` or ``csv``) forces the format. Encord flags are read with a
    cheap first pass when the source is seekable; from a non-seekable stream only the flags
    written before the first item list are seen. ``limits`` bound what one row may hold.
    """
    fmt = check_format(fmt)
    stream, owned, label = _open_source(source, name)

    def close() -> None:
        if owned:
            stream.close()

    try:
        manifest = _open(stream, label, fmt, close)
    except BaseException:
        close()
        raise
    manifest.limits = limits
    return manifest


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


def _seek_start(stream: BinaryIO) -> int | None:
    """The current position if ``stream`` can seek back to it, else ``None``."""
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _open(stream: BinaryIO, label: str, fmt: str | None, close: Callable[[], None]) -> Manifest:
    start = _seek_start(stream)
    peek = Peeker(stream, label)
    fmt, first = sniff(peek, fmt)
    common: dict[str, Any] = {"name": label, "format": fmt, "close": close}
    if fmt == "csv":
        shape, rows = open_csv(replay(peek.data, stream), label)
        return Manifest(shape=shape, flags=ManifestFlags(), rows=rows, **common)
    if fmt == "jsonl":
        shape, rows = open_items(jsonl_values(replay(peek.data, stream), label))
        return Manifest(shape=shape, flags=ManifestFlags(), rows=rows, **common)
    if first not in (b"[", b"{"):
        raise ManifestError(f"{label}: a JSON manifest must be an array [...] or an object {{...}}")
    source = JsonSource(stream, start, peek)
    if first == b"[":
        shape, rows = open_items(array_values(source.open(), label, source.locate))
        return Manifest(shape=shape, flags=ManifestFlags(), rows=rows, **common)
    known = scan_flags(source.open(), label, source.locate) if start is not None else None
    flags, rows, ignored = open_encord(source.open(), label, known, source.locate)
    return Manifest(shape="encord", flags=flags, rows=rows, ignored_flags=ignored, **common)
