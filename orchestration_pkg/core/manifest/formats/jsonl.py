"""JSON Lines manifests: one item per line, read line by line; a line that is not JSON is a
row error, not the end of the file."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.manifest.limits import loads_bounded
from orchestration_pkg.core.manifest.parse_errors import Translate
from orchestration_pkg.core.manifest.shapes import Value
from orchestration_pkg.core.models import RowError

MAX_LINE = 16 << 20


def jsonl_values(reader: io.BufferedReader, label: str) -> Iterator[Value]:
    """(row, item) for each non-blank line; a line that is not JSON gives a RowError whose
    reason has the line and column in the file (rows skip blank lines, file lines do not)."""
    row = 0
    line_number = 0
    with Translate(label, lambda: f" at row {row}"):
        while True:
            line = reader.readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE:
                raise ManifestError(f"{label}: row {row + 1} is longer than 16 MiB")
            line_number += 1
            body = line.strip()
            if not body:
                continue
            row += 1
            text = body.decode("utf-8")
            try:
                value = loads_bounded(text)
            except json.JSONDecodeError as exc:
                column = len(line) - len(line.lstrip()) + exc.pos + 1
                reason = f"invalid JSON at line {line_number}, column {column}: {exc.msg}"
                yield RowError(row=row, field="line", reason=reason)
            except ValueError as exc:  # nested too deeply, an integer of 4,300+ digits
                reason = f"cannot read line {line_number}: {str(exc)[:80]}"
                yield RowError(row=row, field="line", reason=reason)
            else:
                yield row, value
