"""Parser, decoding and I/O errors turned into one-line ``ManifestError`` messages."""

from __future__ import annotations

import csv
import decimal
import re
from collections.abc import Callable
from typing import Any

import ijson

from orchestration_pkg.core.errors import ManifestError

Position = tuple[int, int]


class Translate:
    """Context manager: turn parser, decoding and I/O errors into one-line ``ManifestError``s.

    ``where()`` says where the reader was (e.g. `` after row 3``); ``locate()``, if given,
    finds the line and column of a JSON syntax error (``None`` when it cannot).
    """

    def __init__(
        self,
        label: str,
        where: Callable[[], str] = lambda: "",
        locate: Callable[[], Position | None] | None = None,
    ) -> None:
        self.label = label
        self.where = where
        self.locate = locate

    def __enter__(self) -> Translate:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, ManifestError):
            return
        where = self.where()
        if isinstance(exc, ijson.JSONError):
            reason = json_reason(exc)
            if "utf8" in reason.lower().replace("-", ""):
                raise ManifestError(f"{self.label}: not valid UTF-8{where}") from None
            position = self._position()
            if position is not None:
                line, column = position
                where = f" at line {line}, column {column}" + (
                    f" ({where.strip()})" if where else ""
                )
            raise ManifestError(f"{self.label}: invalid JSON{where}: {reason}") from None
        if isinstance(exc, UnicodeDecodeError):
            raise ManifestError(f"{self.label}: not valid UTF-8{where}") from None
        if _bad_number(exc):
            raise ManifestError(f"{self.label}: a number is out of range{where}") from None
        if isinstance(exc, csv.Error):
            raise ManifestError(f"{self.label}: invalid CSV{where}: {exc}") from None
        if isinstance(exc, OSError):
            raise ManifestError(f"{self.label}: cannot read manifest{where}: {exc}") from None

    def _position(self) -> Position | None:
        """The error's line and column; never fails (the parser's error is what counts)."""
        if self.locate is None:
            return None
        try:
            return self.locate()
        except Exception:
            return None


def _bad_number(exc: BaseException) -> bool:
    """A number ijson could not convert: over Python's 4,300-digit limit for ``int`` (raised
    inside the C parser's read, hence ``SystemError``) or an exponent ``Decimal`` refuses."""
    if isinstance(exc, decimal.InvalidOperation):
        return True
    if isinstance(exc, SystemError):
        return "readinto" in str(exc) or "read" in str(exc)
    return isinstance(exc, ValueError) and "digits" in str(exc)


def after(row: int) -> str:
    """`` after row N`` (or `` before the first row``)."""
    return f" after row {row}" if row else " before the first row"


def check_utf8(text: str, label: str, row: int) -> None:
    """Raise if ``text`` (decoded with surrogateescape) held bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError(f"{label}: not valid UTF-8 at row {row}") from None


def json_reason(exc: BaseException) -> str:
    """First line of a yajl message: the rest quotes the file, which may hold signed URLs."""
    text = str(exc)
    if text[:2] in ("b'", 'b"'):
        text = text[2:]
    text = re.split(r"\n|\\n", text, maxsplit=1)[0].strip()
    return text[:200] or type(exc).__name__
