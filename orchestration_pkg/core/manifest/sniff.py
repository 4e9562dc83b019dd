"""Looking at the first bytes of a manifest: UTF-8 BOM, emptiness and format; the bytes read
are replayed so that streams which only offer ``read(n)`` can be sniffed too."""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Callable
from typing import Any, BinaryIO

from orchestration_pkg.core.errors import ManifestError

FORMATS = ("json", "jsonl", "csv")

CHUNK = 64 * 1024
HEAD_LIMIT = 1 << 20
BLANK = b" \t\r\n"
_ITEM_KEYS = frozenset(("url", "data", "row_data", "global_key", "externalId", "external_id"))


class Peeker:
    """Reads the first bytes of a stream (at most about 1 MiB), keeping them for replay."""

    def __init__(self, stream: BinaryIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.data = b""
        self.consumed = 0
        self.eof = False

    def fill(self, enough: Callable[[bytes], bool]) -> None:
        while not self.eof and not enough(self.data) and len(self.data) < HEAD_LIMIT:
            try:
                chunk = self.stream.read(CHUNK)
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


def replay(head: bytes, stream: BinaryIO) -> io.BufferedReader:
    """A buffered reader giving ``head`` and then the rest of ``stream``."""
    return io.BufferedReader(_Replay(head, stream), buffer_size=CHUNK)


def check_format(fmt: str | None) -> str | None:
    """A forced format normalised (``ndjson`` is ``jsonl``), or ``None``."""
    if fmt is None:
        return None
    value = fmt.lower().lstrip(".")
    value = "jsonl" if value == "ndjson" else value
    if value not in FORMATS:
        raise ManifestError(f"unknown manifest format {fmt!r}: use json, jsonl or csv")
    return value


def _extension_format(label: str) -> str | None:
    suffix = label.rsplit(".", 1)[-1].lower() if "." in label else ""
    return {"csv": "csv", "json": "json", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix)


def sniff(peek: Peeker, fmt: str | None) -> tuple[str, bytes]:
    """Drop a UTF-8 BOM, check the file is not empty, decide the format; return it and the
    first significant byte."""
    peek.fill(lambda d: len(d) >= 4)
    if peek.data.startswith(codecs.BOM_UTF8):
        peek.data = peek.data[len(codecs.BOM_UTF8) :]
    elif peek.data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ManifestError(f"{peek.label}: manifest is UTF-16/32 encoded; save it as UTF-8")
    peek.fill(lambda d: bool(d.strip(BLANK)))
    body = peek.data.lstrip(BLANK)
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


def _json_or_jsonl(peek: Peeker) -> str:
    """A file starting with ``{``: JSON Lines if its first line is a whole object followed by
    more lines (or is a lone line that looks like an item, e.g. has ``url``), else one JSON
    object."""
    start = len(peek.data) - len(peek.data.lstrip(BLANK))
    peek.fill(lambda d: b"\n" in d[start:])
    end = peek.data.find(b"\n", start)
    if end < 0:
        if not peek.eof:
            return "json"
        end = len(peek.data)
    try:
        first = json.loads(peek.data[start:end])
    except RecursionError:  # one whole line, nested absurdly: a JSON Lines row (its error)
        first = {}
    except ValueError:
        return "json"
    if not isinstance(first, dict):
        return "json"
    peek.fill(lambda d: bool(d[end + 1 :].strip(BLANK)))
    more = bool(peek.data[end + 1 :].strip(BLANK))
    return "jsonl" if more or _ITEM_KEYS & first.keys() else "json"
