"""Where a JSON manifest breaks: line and column of the first syntax error.

``ijson`` (yajl) finds the error but does not say where it is. When it fails, the JSON text is
read again from its start and walked with the standard ``json`` decoder, which reports
positions: the top-level array or object, and the lists inside a top-level object, are walked
piece by piece, and each item is decoded whole with ``JSONDecoder.raw_decode`` from a sliding
window. Memory stays bounded by one item plus one read chunk (an item over
:data:`MAX_VALUE` characters ends the search without a position).

The text can be read again when the source is seekable (local files, spooled downloads);
from a stream that cannot seek, the first :data:`KEEP` bytes given to ``ijson`` are kept, so
errors within them are located too. Otherwise the message simply has no position.

Lines and columns are 1-based; columns count characters (not bytes), like an editor.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Callable
from typing import BinaryIO

from orchestration_pkg.core.manifest.limits import DigitRuns
from orchestration_pkg.core.manifest.sniff import CHUNK, HEAD_LIMIT, Peeker, replay

Position = tuple[int, int]
LocateError = Callable[[], Position | None]

KEEP = HEAD_LIMIT
MAX_VALUE = 16 << 20
_SPACE = re.compile(r"[ \t\n\r]*")
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)', re.DOTALL)
# what follows an error that a longer text might cure: the start of a literal, a number or an
# escape sequence (a cut string says "Unterminated string" instead)
_CUT_TOKEN = re.compile(r'[\w.+\-\\"]*')


class JsonSource:
    """The JSON text of a manifest for ``ijson``, which can be read again to locate an error."""

    def __init__(self, stream: BinaryIO, start: int | None, peek: Peeker) -> None:
        self._stream = stream
        self._start = start
        self._peek = peek
        self._tape: _Tape | None = None

    def open(self) -> BinaryIO:
        """A reader from the first byte of the JSON text (a seekable stream is rewound)."""
        if self._start is not None:
            self._stream.seek(self._start + self._peek.consumed)
        reader = replay(self._peek.data, self._stream)
        self._tape = _Tape(reader, keep=self._start is None, label=self._peek.label)
        return self._tape  # type: ignore[return-value]

    def locate(self) -> Position | None:
        """Line and column of the first syntax error, or ``None`` if it cannot be found."""
        if self._start is not None:
            self._stream.seek(self._start + self._peek.consumed)
            return error_position(replay(self._peek.data, self._stream))
        tape = self._tape
        if tape is None or tape.kept is None:
            return None
        return error_position(io.BytesIO(bytes(tape.kept)), complete=tape.eof)


class _Tape:
    """Passes reads through, keeping the bytes read (up to :data:`KEEP`) if asked to, and
    refusing absurdly long digit runs before the parser sees them (:class:`DigitRuns`)."""

    def __init__(self, reader: io.BufferedReader, *, keep: bool, label: str) -> None:
        self._reader = reader
        self.kept: bytearray | None = bytearray() if keep else None
        self.eof = False
        self._digits = DigitRuns(label)

    def read(self, n: int = -1) -> bytes:
        data = self._reader.read(n)
        self._digits.check(data)
        if n != 0 and not data:
            self.eof = True
        if self.kept is not None:
            if len(self.kept) + len(data) <= KEEP:
                self.kept += data
            else:
                self.kept = None
        return data


class _Found(Exception):
    """The walk met the first error at ``index`` of the window."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class _GiveUp(Exception):
    """The walk cannot say where the error is."""


def _no_constants(name: str) -> float:
    raise ValueError(name)  # NaN and Infinity are not JSON (yajl refuses them too)


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


class _Walker:
    """Walks decoded text through a sliding window, tracking the line and column of its
    start."""

    def __init__(self, reader: BinaryIO, complete: bool) -> None:
        self._reader = reader
        self._decode = codecs.getincrementaldecoder("utf-8")()
        self._complete = complete
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._line = 1
        self._column = 0  # characters on the window start's line before the window

    # --- window -------------------------------------------------------------------------

    def _more(self, want: int = 1) -> bool:
        """Append at least ``want`` more characters unless the text ends; ``False`` at EOF."""
        grown = False
        target = len(self.buf) + want
        while len(self.buf) < target and not self.eof:
            data = self._reader.read(CHUNK)
            try:
                text = self._decode.decode(data, final=not data)
            except UnicodeDecodeError:
                raise _GiveUp from None
            if not data:
                self.eof = True
            self.buf += text
            grown = grown or bool(text)
        return grown

    def _forget(self) -> None:
        """Drop the text before the cursor, keeping the window start's line and column."""
        gone = self.buf[: self.pos]
        lines = gone.count("\n")
        if lines:
            self._line += lines
            self._column = len(gone) - gone.rfind("\n") - 1
        else:
            self._column += len(gone)
        self.buf = self.buf[self.pos :]
        self.pos = 0

    def position(self, index: int) -> Position:
        """Line and column of ``index`` in the window."""
        head = self.buf[:index]
        lines = head.count("\n")
        if lines:
            return self._line + lines, index - head.rfind("\n")
        return self._line, self._column + index + 1

    def _at_end(self, index: int) -> _Found:
        """The text ends too early: the error is at its end (if the end is the real one)."""
        if not self._complete:
            raise _GiveUp
        return _Found(index)

    # --- tokens -------------------------------------------------------------------------

    def peek(self) -> str:
        """The next significant character (the cursor moves onto it); ``""`` at the end."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.pos > CHUNK:
                self._forget()
            if not self._more():
                return ""

    def expect(self, chars: str) -> str:
        """Take the next significant character, which must be one of ``chars``."""
        char = self.peek()
        if not char:
            raise self._at_end(self.pos)
        if char not in chars:
            raise _Found(self.pos)
        self.pos += 1
        return char

    def value(self, depth: int) -> None:
        """Walk one value: the top level and the lists of a top-level object piece by piece,
        anything else decoded whole."""
        char = self.peek()
        if char == "[" and depth <= 1:
            self._array(depth)
        elif char == "{" and depth == 0:
            self._object()
        elif not char:
            raise self._at_end(self.pos)
        else:
            self._decode_value()

    def _array(self, depth: int) -> None:
        self.pos += 1
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            self.value(depth + 1)
            if self.expect(",]") == "]":
                return

    def _object(self) -> None:
        self.pos += 1
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            self.expect('"')
            self.pos -= 1  # the key is decoded whole
            self._decode_value()
            self.expect(":")
            self.value(1)
            if self.expect(",}") == "}":
                return

    def _decode_value(self) -> None:
        """Decode the value at the cursor, growing the window until it is whole."""
        if self.pos > CHUNK:
            self._forget()
        while True:
            try:
                _, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                unterminated = exc.msg.startswith("Unterminated string")
                cut = unterminated or _CUT_TOKEN.fullmatch(self.buf, exc.pos) is not None
                if self.eof:
                    if cut and not self._complete:
                        raise _GiveUp from None
                    raise _Found(len(self.buf) if unterminated else exc.pos) from None
                if not cut:
                    raise _Found(exc.pos) from None
            except ValueError:
                raise _Found(self._constant()) from None
            except RecursionError:
                raise _GiveUp from None
            else:
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return
            if len(self.buf) - self.pos > MAX_VALUE:
                raise _GiveUp
            self._more(max(CHUNK, len(self.buf) - self.pos))

    def _constant(self) -> int:
        """Index of the first NaN / Infinity outside strings, from the cursor."""
        for match in _CONSTANT.finditer(self.buf, self.pos):
            if match.group(1):
                return match.start(1)
        raise _GiveUp


def error_position(reader: BinaryIO, *, complete: bool = True) -> Position | None:
    """Line and column of the first JSON syntax error in ``reader`` (from the start of the
    JSON text), or ``None`` if there is none or it cannot be told. ``complete=False`` says
    the text is only the start of the file: an error found at its end is not reported."""
    walker = _Walker(reader, complete)
    try:
        walker.value(0)
        if walker.peek():
            raise _Found(walker.pos)  # trailing garbage
    except _Found as found:
        return walker.position(found.index)
    except _GiveUp:
        return None
    return None
