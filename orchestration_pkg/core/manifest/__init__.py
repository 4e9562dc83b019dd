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

Messages say where a JSON syntax error is: ``invalid JSON at line 3, column 17 (after row 4)``
for a JSON file (see :mod:`.formats.json_position`), and the file line and column in the row
error of a JSON Lines line, or the line and column inside the cell for a CSV JSON cell.

Numbers in JSON are checked strictly (``"width": "600"`` or ``600.0`` is a row error); CSV cells
are text and converted (``600`` is fine, ``600.5`` or ``abc`` is a row error).

Modules: :mod:`.reader` (opening, :class:`Manifest`), :mod:`.sniff` (BOM, format detection),
:mod:`.formats` (JSON array / Encord object and error positions, JSON Lines, CSV),
:mod:`.shapes` (one item to rows, for each shape), :mod:`.parse_errors` (one-line messages).
"""

from orchestration_pkg.core.manifest.media_kind import guess_media_kind
from orchestration_pkg.core.manifest.reader import Manifest, read_manifest
from orchestration_pkg.core.manifest.shapes import SHAPES
from orchestration_pkg.core.manifest.shapes.encord import ENCORD_LISTS
from orchestration_pkg.core.manifest.shapes.fields import Row
from orchestration_pkg.core.manifest.sniff import FORMATS

__all__ = [
    "ENCORD_LISTS",
    "FORMATS",
    "SHAPES",
    "Manifest",
    "Row",
    "guess_media_kind",
    "read_manifest",
]
