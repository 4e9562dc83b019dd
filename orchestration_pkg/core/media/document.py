"""PDF and text metadata through a ``RangeFile``: the PDF trailer and page tree, a text sample.

PDF: pypdf reads the cross-reference table from the end of the file, then the catalog and the
page tree. The last ``PDF_TAIL`` bytes are prefetched in one request before pypdf starts
(startxref, the xref table and the trailer are there), so an ordinary PDF costs the head, the
tail and at most one read for the page objects. ``min_fetch`` is deliberately not raised: a
fetch is extended over blocks already cached, so pypdf's backward scans (looking for %%EOF in a
damaged file) would download the same bytes several times. pypdf runs in strict mode first:
the lenient mode checks the object header at *every* xref offset, touching every block of the
file, so it is only the fallback for files strict mode rejects. Both run under a read budget
(``PDF_REPAIR_BYTES``): repairing a broken xref table means scanning the whole file.

Text: the encoding and the line count come from a sample of the first bytes only.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any, TypeVar

from charset_normalizer import from_bytes
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PyPdfError

from orchestration_pkg.core.errors import ProbeError, StorageError
from orchestration_pkg.core.media.models import PdfMetadata, TextMetadata
from orchestration_pkg.core.media.rangefile import RangeFile
from orchestration_pkg.core.media.sniff import BOM_CODECS, TEXT_MIME, extension

PDF_TAIL = 64 * 1024
PDF_REPAIR_BYTES = 8 * 1024 * 1024
"""Most pypdf may read after the head and tail: more means a damaged file being scanned."""
ENCRYPTED = "encrypted PDF (a password is needed to read the page tree)"

MAX_PAGE_TREE_DEPTH = 32
TEXT_SAMPLE = 256 * 1024
ENCODING_SAMPLE = 64 * 1024
"""Bytes given to charset-normalizer when the sample is not UTF-8 (it is slow on more)."""
CP1252_TOLERANCE = 0.1

_PDF_ERRORS = (
    PyPdfError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    RecursionError,
    EOFError,
    OSError,
)
"""What pypdf raises on damaged input (StorageError is none of these: it propagates)."""
T = TypeVar("T")


def _read_at(rf: RangeFile, offset: int, length: int) -> bytes:
    rf.seek(offset)
    out = bytearray()
    while len(out) < length and (chunk := rf.read(length - len(out))):
        out += chunk
    return bytes(out)


# -- PDF ---------------------------------------------------------------------------------------


def probe_pdf(rf: RangeFile) -> PdfMetadata:
    """Page count, first page size (points) and encryption, from the xref and page tree."""
    size = rf.size
    if size == 0:
        raise ProbeError("zero-byte object is not a PDF")
    if b"%PDF-" not in _read_at(rf, 0, 1024):
        raise ProbeError("not a PDF (no %PDF- header in the first 1024 bytes)")
    rf.prefetch(max(0, size - PDF_TAIL), PDF_TAIL)
    try:
        return _budgeted(rf, lambda: _pdf_metadata(rf, _reader(rf, strict=True)))
    except FileNotDecryptedError:
        raise ProbeError(ENCRYPTED) from None
    except _PDF_ERRORS:
        pass  # strict mode refused the file: retry leniently (pypdf repairs what it can)
    try:
        return _budgeted(rf, lambda: _pdf_metadata(rf, _reader(rf, strict=False)))
    except FileNotDecryptedError:
        raise ProbeError(ENCRYPTED) from None
    except _PDF_ERRORS as exc:
        raise ProbeError(f"corrupt or truncated PDF ({type(exc).__name__}: {exc})") from None


def _reader(rf: RangeFile, *, strict: bool) -> PdfReader:
    rf.seek(0)
    return PdfReader(rf, strict=strict)


def _budgeted(rf: RangeFile, work: Callable[[], T]) -> T:
    """Run ``work`` allowing at most ``PDF_REPAIR_BYTES`` more; ProbeError beyond."""
    saved = rf.max_bytes
    cap = rf.bytes_read + PDF_REPAIR_BYTES
    rf.max_bytes = cap if saved is None else min(saved, cap)
    try:
        return work()
    except StorageError as exc:
        if exc.code != "ReadLimit":
            raise
        raise ProbeError(
            f"corrupt PDF: no usable xref/trailer without reading more than {PDF_REPAIR_BYTES} "
            "more bytes"
        ) from None
    finally:
        rf.max_bytes = saved


def _pdf_metadata(rf: RangeFile, reader: PdfReader) -> PdfMetadata:
    encrypted = reader.is_encrypted
    root = reader.trailer["/Root"].get_object()
    pages = root["/Pages"].get_object()
    count = int(pages["/Count"])
    width, height = _first_page_size(pages)
    return PdfMetadata(
        mime_type="application/pdf",
        file_size=rf.size,
        page_count=count,
        page_width=width,
        page_height=height,
        encrypted=encrypted,
    )


def _first_page_size(node: Any) -> tuple[float | None, float | None]:
    """MediaBox of the first page: walk down the first kids, inheriting /MediaBox."""
    box = None
    for _ in range(MAX_PAGE_TREE_DEPTH):
        box = node.get("/MediaBox", box)
        kids = node.get("/Kids")
        if node.get("/Type") == "/Page" or not kids:
            break
        node = kids.get_object()[0].get_object()
    if box is None:
        return None, None
    x0, y0, x1, y1 = (float(v.get_object()) for v in box.get_object())
    width, height = abs(x1 - x0), abs(y1 - y0)
    return (width or None), (height or None)


# -- text --------------------------------------------------------------------------------------


def probe_text(rf: RangeFile, *, sample_bytes: int = TEXT_SAMPLE) -> TextMetadata:
    """Encoding and line count of a text object from its first ``sample_bytes`` only."""
    size = rf.size
    if size == 0:
        raise ProbeError("zero-byte object is empty, not text")
    sample = _read_at(rf, 0, min(size, sample_bytes))
    exact = len(sample) >= size
    encoding = detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    return TextMetadata(
        mime_type=TEXT_MIME.get(extension(rf.key), "text/plain"),
        file_size=size,
        encoding=encoding,
        line_count=count_lines(text, complete=exact),
        sampled_bytes=len(sample),
        line_count_exact=exact,
    )


def detect_encoding(sample: bytes) -> str:
    """Python codec name: BOM first, then strict UTF-8, then charset-normalizer."""
    for bom, name in BOM_CODECS:
        if sample.startswith(bom):
            return name
    if b"\x00" in sample:
        raise ProbeError("binary content (NUL bytes without a UTF-16/32 BOM), not text")
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(sample) - 3:
            return "utf-8"  # a character cut at the end of the sample
    return _guess_encoding(sample[:ENCODING_SAMPLE])


def _guess_encoding(sample: bytes) -> str:
    """charset-normalizer's pick, except that windows-1252 wins a near tie.

    On short Western-European text charset-normalizer often ranks look-alike code pages
    (ISO-8859-10, windows-1250) first; windows-1252 is by far the most common undeclared
    single-byte encoding (WHATWG decodes ISO-8859-1 labels as windows-1252 too).
    """
    best = from_bytes(sample).best()
    if best is None:
        raise ProbeError("not text: no character encoding fits the content")
    western = from_bytes(sample, cp_isolation=["cp1252"]).best()
    if western is not None and western.chaos <= best.chaos + CP1252_TOLERANCE:
        return "cp1252"
    return codecs.lookup(best.encoding).name


def count_lines(text: str, *, complete: bool) -> int:
    """Lines of ``text``; a partial sample counts only its finished lines."""
    breaks = text.count("\n") or text.count("\r")
    unterminated = complete and bool(text) and not text.endswith(("\n", "\r"))
    return breaks + int(unterminated)
