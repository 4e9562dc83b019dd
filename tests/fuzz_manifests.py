"""A seeded manifest fuzzer: cases across JSON / JSON Lines / CSV and the four shapes.

Each :class:`Case` is a manifest file plus, when the file is still well-formed, what every
row must become: ``ok`` (a row to register), ``row`` (a row error while reading: wrong types,
nulls, limits, 64-bit integers, NUL, NaN) or ``url`` (read fine, refused by the integration:
``..``, ``%00``, other buckets and schemes, keys over 1,024 bytes). File-level damage
(truncation, invalid UTF-8, broken CSV quoting) has no row-by-row expectation: reading it must
end in rows and row errors or one ``ManifestError``, nothing else.

:func:`check_read` is the reader's oracle; run as a script (``python -m tests.fuzz_manifests
SEED COUNT``) it checks ``COUNT`` cases in this process and prints a JSON report with the peak
RSS, which the test suite runs in a child process.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import sys
from dataclasses import dataclass, field
from typing import Any

BUCKET = "fuzz-bkt"
PREFIX = "in/"
FORMATS = {
    "json": ("native", "encord", "labelbox", "ango"),
    "jsonl": ("native", "labelbox", "ango"),
    "csv": ("native", "encord", "labelbox", "ango"),
}
# per shape: (url field, title field, metadata field) as the shape names them
FIELDS = {
    "native": ("url", "title", "client_metadata"),
    "encord": ("objectUrl", "title", "clientMetadata"),
    "labelbox": ("row_data", "global_key", "metadata_fields"),
    "ango": ("data", "externalId", "metadata"),
}
BAD_URLS = [
    f"s3://{BUCKET}/{PREFIX}../escape.jpg",
    f"https://{BUCKET}.s3.amazonaws.com/{PREFIX}a/%2E%2E/b.jpg",
    f"https://{BUCKET}.s3.amazonaws.com/{PREFIX}nul%00.jpg",
    f"s3://other-bucket/{PREFIX}x.jpg",
    f"s3://{BUCKET}/outside/x.jpg",
    f"ftp://{BUCKET}/{PREFIX}x.jpg",
    "file:///etc/passwd",
    "javascript:alert(1)",
    f"s3://{BUCKET}/{PREFIX}" + "k" * 1100,
    "http://169.254.169.254/latest/meta-data/",
]


@dataclass
class Case:
    """One fuzzed manifest: its file name, bytes and per-row expectations (or None)."""

    name: str
    fmt: str
    shape: str
    data: bytes
    expect: list[str] | None  # "ok" | "row" | "url" per row, None: file-level damage
    urls: list[str | None] = field(default_factory=list)  # the URL each row carries

    @property
    def first_row(self) -> int:
        return 2 if self.fmt == "csv" else 1  # CSV rows count the header


def good_url(rng: random.Random, i: int) -> str:
    names = ["plain", "with space", "ünïcode", "a+b", "deep/er/path", "q?x", "#hash"]
    name = f"{rng.choice(names)}-{i}.jpg"
    return f"s3://{BUCKET}/{PREFIX}{name}"


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value


# --- row mutations: (what the row becomes, how the value is changed) -----------------------


def _mutations(fmt: str, shape: str) -> list[str]:
    common = ["null_url", "empty_url", "bad_url", "long_title", "meta_megabyte", "deep_40"]
    common += ["bigint", "nul_title", "deep_300"]
    if fmt != "csv":
        common += ["url_number", "title_object", "meta_list", "item_not_object"]
    if fmt == "jsonl":
        common += ["nan", "deep_100k"]
    if shape in ("native", "ango", "encord"):
        common += ["width_text" if fmt != "csv" else "width_junk", "width_huge"]
    return common


def _row(
    rng: random.Random, fmt: str, shape: str, i: int, mutation: str | None
) -> tuple[Any, str, str | None]:
    """(row as a dict of our field names, expectation, url)."""
    url_f, title_f, meta_f = FIELDS[shape]
    url = good_url(rng, i)
    row: dict[str, Any] = {url_f: url, title_f: f'title {i} "quoted", comma\nline'}
    meta: Any = {"camera": rng.choice(["a", "b"]), "i": i, "tags": ["x", "y"]}
    expect = "ok"
    if mutation == "null_url":
        row[url_f], url, expect = None, None, "row"
    elif mutation == "empty_url":
        row[url_f], url, expect = "", None, "row"
    elif mutation == "url_number":
        row[url_f], url, expect = 12345, None, "row"
    elif mutation == "bad_url":
        url = rng.choice(BAD_URLS)
        row[url_f], expect = url, "url"
    elif mutation == "long_title":
        row[title_f], expect = "t" * 70_000, "row"
    elif mutation == "title_object":
        row[title_f], expect = {"a": 1}, "row"
    elif mutation == "nul_title":
        row[title_f], expect = "a\x00b", "row"
    elif mutation == "meta_megabyte":
        meta, expect = {"blob": "m" * (1 << 20)}, "row"
    elif mutation == "deep_40":
        meta, expect = {"d": nested(40)}, "row"
    elif mutation == "deep_300":
        meta, expect = {"d": nested(300)}, "row"
    elif mutation == "deep_100k":
        meta, expect = "DEEP", "row"
    elif mutation == "bigint":
        meta, expect = {"n": 2**70 + i}, "row"
    elif mutation == "nan":
        meta, expect = {"n": float("nan")}, "row"
    elif mutation == "meta_list":
        meta, expect = [1, 2], "row"
    elif mutation == "width_text":
        row["width"], expect = "600", "row"
    elif mutation == "width_junk":
        row["width"], expect = "six hundred", "row"
    elif mutation == "width_huge":
        row["width"], expect = 2**40, "row"
    elif mutation == "item_not_object":
        return rng.choice([7, "text", None, [1, 2]]), "row", None
    if shape == "labelbox" and meta_f == "metadata_fields":
        if mutation == "meta_list":
            row[meta_f] = "not a list"
        else:
            row[meta_f] = [{"name": "m", "value": meta}]
    else:
        row[meta_f] = meta
    if shape == "labelbox" and mutation == "title_object":
        row[title_f] = {"a": 1}
    if "width" in row and shape == "encord":
        row["imageMetadata"] = {"width": row.pop("width")}
    return row, expect, url


def _render(fmt: str, shape: str, rows: list[Any]) -> bytes:
    if fmt == "json":
        if shape == "encord":
            text = json.dumps({"images": rows, "skip_duplicate_urls": False})
        else:
            text = json.dumps(rows)
    elif fmt == "jsonl":
        text = "\n".join(json.dumps(r) for r in rows) + "\n"
    else:
        text = _csv(shape, rows)
    deep = "[" * 100_000 + "]" * 100_000
    return text.replace('"DEEP"', deep).encode("utf-8", "surrogatepass")


def _csv(shape: str, rows: list[Any]) -> str:
    url_f, title_f, meta_f = FIELDS[shape]
    meta_col = "metadata" if shape in ("labelbox", "ango") else meta_f
    header = [url_f, title_f, meta_col, "width"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        if not isinstance(row, dict):
            writer.writerow([str(row)])
            continue
        meta = row.get(meta_f)
        if shape == "labelbox" and isinstance(meta, list) and meta and isinstance(meta[0], dict):
            meta = meta[0].get("value")
        width = row.get("width", row.get("imageMetadata", {}).get("width", ""))
        cells = [row.get(url_f), row.get(title_f), meta, width]
        writer.writerow([_cell(c) for c in cells])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def make_case(seed: int, index: int) -> Case:
    """The ``index``-th case of ``seed``: deterministic."""
    rng = random.Random(f"{seed}:{index}")
    fmt = rng.choice(list(FORMATS))
    shape = rng.choice(FORMATS[fmt])
    n = rng.randint(2, 12)
    rows, expect, urls = [], [], []
    mutations = _mutations(fmt, shape)
    for i in range(n):
        mutation = rng.choice(mutations) if i and rng.random() < 0.5 else None
        if fmt == "csv" and mutation == "null_url":
            mutation = "empty_url"  # CSV has no null
        row, outcome, url = _row(rng, fmt, shape, i, mutation)
        rows.append(row)
        expect.append(outcome)
        urls.append(url)
    data = _render(fmt, shape, rows)
    name = f"case{index}.{fmt}"
    damage = rng.random()
    if damage < 0.08:
        data = data[: rng.randrange(1, max(2, len(data)))]
        return Case(name, fmt, shape, data, None)
    if damage < 0.14:
        at = rng.randrange(len(data))
        data = data[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]) + data[at:]
        return Case(name, fmt, shape, data, None)
    if damage < 0.18 and fmt == "csv":
        at = rng.randrange(len(data))
        return Case(name, fmt, shape, data[:at] + b'"' + data[at:], None)
    if damage < 0.30:
        data = b"\xef\xbb\xbf" + data  # a BOM changes nothing
    return Case(name, fmt, shape, data, expect, urls)


def duplicate_case(copies: int = 100_000) -> Case:
    """One row repeated ``copies`` times (JSON Lines): all rows fine, registered once."""
    line = json.dumps({"url": f"s3://{BUCKET}/{PREFIX}same.jpg", "title": "same"}) + "\n"
    url = f"s3://{BUCKET}/{PREFIX}same.jpg"
    return Case(
        "dupes.jsonl", "jsonl", "native", (line * copies).encode(), ["ok"] * copies, [url] * copies
    )


# --- the reader's oracle --------------------------------------------------------------------


def check_read(case: Case, path: str) -> str | None:
    """Read ``path`` (holding ``case.data``) row by row; the problem found, or ``None``."""
    from orchestration_pkg.core.errors import ManifestError
    from orchestration_pkg.core.manifest import read_manifest
    from orchestration_pkg.core.models import ManifestItem, RowError

    count = 0
    try:
        for row in read_manifest(path):  # streamed: 100k rows are never all in memory
            if not isinstance(row, (ManifestItem, RowError)):
                return "a row is neither an item nor a row error"
            if case.expect is not None:
                problem = _compare(case, count, row)
                if problem:
                    return problem
            count += 1
    except ManifestError as exc:
        if "\n" in str(exc):
            return f"multi-line ManifestError: {str(exc)[:200]!r}"
        if case.expect is not None:
            return f"a well-formed manifest was refused: {str(exc)[:200]}"
        return None
    except Exception as exc:  # noqa: BLE001 - what the fuzzer hunts
        return f"{type(exc).__name__} escaped: {str(exc)[:200]}"
    if case.expect is not None and count != len(case.expect):
        return f"{count} rows for {len(case.expect)} expected"
    return None


def _compare(case: Case, k: int, row: Any) -> str | None:
    from orchestration_pkg.core.models import ManifestItem, RowError

    if k >= len(case.expect or []):
        return f"more rows than the {len(case.expect or [])} written"
    if row.row != case.first_row + k:
        return f"row number {row.row}, expected {case.first_row + k}"
    outcome = (case.expect or [])[k]
    if outcome == "row" and not isinstance(row, RowError):
        return f"row {row.row} should be a row error ({str(case.urls[k])[:80]!r})"
    if outcome in ("ok", "url"):
        if not isinstance(row, ManifestItem):
            return f"row {row.row} should be read: {str(row)[:200]}"
        if row.url != case.urls[k]:
            return f"row {row.row}: url {row.url[:80]!r} != {str(case.urls[k])[:80]!r}"
    return None


def run(seed: int, count: int, workdir: str) -> dict[str, Any]:
    """Check ``count`` cases (plus the 100k-duplicates case) in this process."""
    import os
    from pathlib import Path

    failures = []
    kinds: dict[str, int] = {}
    cases = itertools.chain((make_case(seed, i) for i in range(count)), [duplicate_case()])
    checked = 0
    for case in cases:  # one at a time: a case may hold megabytes
        checked += 1
        path = Path(workdir) / case.name
        path.write_bytes(case.data)
        problem = check_read(case, str(path))
        if problem:
            failures.append({"case": case.name, "shape": case.shape, "problem": problem})
        key = f"{case.fmt}/{case.shape}/{'exact' if case.expect is not None else 'damaged'}"
        kinds[key] = kinds.get(key, 0) + 1
        os.unlink(path)
    with open("/proc/self/status") as status:
        hwm = [ln for ln in status if ln.startswith("VmHWM")][0].split()[1]
    return {"cases": checked, "failures": failures, "kinds": kinds, "hwm_kb": int(hwm)}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = run(int(sys.argv[1]), int(sys.argv[2]), tmp)
    print(json.dumps(report))
