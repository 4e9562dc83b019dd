"""Export benchmark: a ROWS-row folder exported with signed S3 URLs, against the honest
baseline, boto3's ``generate_presigned_url`` on ONE reused client.

  1. moto starts in its own process on 127.0.0.1 and holds one real object;
  2. a SQLite catalog gets a ROWS-row folder (bulk insert; set-up, not timed);
  3. a child process runs ``export_folder(--format F --urls signed)`` into a file and prints
     its wall time and peak RSS; another child only imports the same modules (RSS baseline);
  4. the baseline signs BASELINE_N URLs with one boto3 client (no catalog, no JSON, nothing
     written), per-URL time × ROWS (all ROWS with ``--baseline-n`` = ROWS);
  5. one URL of the export (the real object's) must GET 200 from moto.

Goals: the export of 1,000,000 rows < 60 s; and no slower than the baseline's signing alone
(ratio export ÷ baseline ≤ 1.0). Verdicts printed.

Usage: python bench/bench_export.py [--rows 1000000] [--format encord] [--baseline-n 50000]
                                    [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _servers import start_moto, stop  # noqa: E402

BUCKET = "bench-export"
REAL_KEY = "img/0000000.jpg"
GOAL_SECONDS = 60.0
GOAL_ROWS = 1_000_000
GOAL_RATIO = 1.0
FILL_CHUNK = 20_000


def _config(db: Path, endpoint: str) -> dict:
    return {
        "catalog": f"sqlite:///{db}",
        "integrations": [
            {
                "name": "bench",
                "bucket": BUCKET,
                "endpoint_url": endpoint,
                "auth": {
                    "method": "access_key",
                    "access_key_id": "bench",
                    "secret_access_key": "x",
                },
            }
        ],
    }


def _fill(db: Path, rows: int) -> float:
    """A ROWS-row folder 'big' of images with realistic metadata (bulk insert)."""
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.catalog.schema import files

    started = time.perf_counter()
    catalog = Catalog(f"sqlite:///{db}")
    folder_id = catalog.ensure_folder("big").id
    now = datetime.now(timezone.utc)
    for start in range(0, rows, FILL_CHUNK):
        batch = []
        for i in range(start, min(rows, start + FILL_CHUNK)):
            key = f"img/{i:07d}.jpg"
            meta = {"kind": "image", "mime_type": "image/jpeg", "file_size": 20_000 + i % 977,
                    "width": 1920, "height": 1080, "format": "JPEG", "orientation": 1}  # fmt: skip
            batch.append(
                {
                    "folder_id": folder_id,
                    "integration": "bench",
                    "object_url": f"s3://{BUCKET}/{key}",
                    "key": key,
                    "media_kind": "image",
                    "size": meta["file_size"],
                    "etag": f"e{i}",
                    "content_type": "image/jpeg",
                    "width": 1920,
                    "height": 1080,
                    "title": f"frame {i}",
                    "media_metadata": meta,
                    "client_metadata": {"camera": f"cam{i % 8}"},
                    "created_at": now,
                    "updated_at": now,
                }  # fmt: skip
            )
        with catalog.engine.begin() as conn:
            conn.execute(files.insert(), batch)
    catalog.dispose()
    return time.perf_counter() - started


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _child(mode: str, config_file: str, fmt: str, out: str) -> None:
    """export: the whole export, timed; import: the same imports only. Prints JSON."""
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.config import load_config
    from orchestration_pkg.core.export import ExportOptions, export_folder
    from orchestration_pkg.core.providers.s3.storage import S3Storage  # noqa: F401

    if mode == "import":
        print(json.dumps({"rss": _peak_rss_mib()}))
        return
    started = time.perf_counter()
    config = load_config(config_file)
    catalog = Catalog(config.catalog)
    with open(out, "w", encoding="utf-8", buffering=1 << 20) as handle:
        result = export_folder(
            config, catalog, "big", ExportOptions(format=fmt, urls="signed", ttl=3600), handle
        )
    took = time.perf_counter() - started
    catalog.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        json.dumps({"rss": _peak_rss_mib(), "seconds": took, "cpu": cpu, "written": result.written})
    )


def _run_child(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _baseline(endpoint: str, n: int) -> float:
    """Seconds per URL of boto3 generate_presigned_url on ONE reused client."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="x",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "warm"})
    started = time.perf_counter()
    for i in range(n):
        client.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": f"img/{i:07d}.jpg"}, ExpiresIn=3600
        )
    return (time.perf_counter() - started) / n


def _first_url(out: Path, fmt: str) -> str:
    with out.open(encoding="utf-8") as handle:
        head = handle.read(1 << 16)
    marker = {"encord": '"objectUrl":"', "labelbox": '"row_data":"', "ango": '"data":"'}
    start = head.index(marker.get(fmt, '"url":"')) + len(marker.get(fmt, '"url":"'))
    return head[start : head.index('"', start)]


def _get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=GOAL_ROWS)
    parser.add_argument("--format", default="encord", choices=["encord", "labelbox", "ango"])
    parser.add_argument("--baseline-n", type=int, default=50_000, help="URLs the baseline signs")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (2000 rows)")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "CONFIG", "FORMAT", "OUT"))
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    if args.smoke:
        args.rows, args.baseline_n = 2_000, 500
    args.baseline_n = max(1, min(args.baseline_n, args.rows))
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    tmp = Path(tempfile.mkdtemp(prefix="op-bench-export-"))
    moto, endpoint = start_moto()
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="x")  # fmt: skip
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=REAL_KEY, Body=b"a real object")
        db, config_file, out = tmp / "big.db", tmp / "cfg.json", tmp / f"export.{args.format}"
        config_file.write_text(json.dumps(_config(db, endpoint)))
        print(f"filling a {args.rows}-row folder …", flush=True)
        fill_s = _fill(db, args.rows)
        print(f"  {fill_s:.1f} s (set-up, not timed)", flush=True)
        print(f"exporting as {args.format} with signed URLs (child process) …", flush=True)
        base_rss = _run_child("import", str(config_file), args.format, str(out))["rss"]
        run = _run_child("export", str(config_file), args.format, str(out))
        print(
            f"baseline: boto3 presigning, one reused client, {args.baseline_n} URLs …", flush=True
        )
        per_url = _baseline(endpoint, args.baseline_n)
        status = _get_status(_first_url(out, args.format))
    finally:
        stop(moto)
    seconds, baseline_s = run["seconds"], per_url * args.rows
    ratio = seconds / baseline_s
    scaled = seconds * GOAL_ROWS / args.rows
    size_mib = out.stat().st_size / 2**20
    print(f"\n== export of {args.rows} rows, {args.format}, signed S3 URLs ==")
    print(f"export:   {seconds:8.2f} s  {args.rows / seconds:10.0f} rows/s  ({size_mib:.0f} MiB "
          f"written: pages, signing, JSON, file; {run['cpu']:.1f} s CPU)")  # fmt: skip
    how = "all" if args.baseline_n == args.rows else f"{args.baseline_n} measured, × {args.rows}"
    print(f"baseline: {baseline_s:8.2f} s  {1 / per_url:10.0f} URLs/s  (boto3 "
          f"generate_presigned_url, ONE reused client, signing alone; {how})")  # fmt: skip
    print(f"ratio export ÷ baseline: {ratio:.2f}  (goal ≤ {GOAL_RATIO}: "
          f"{'PASS' if ratio <= GOAL_RATIO else 'FAIL'})")  # fmt: skip
    if args.rows >= GOAL_ROWS:
        verdict = "PASS" if scaled < GOAL_SECONDS else "FAIL"
        print(f"1,000,000 rows in {scaled:.1f} s  (goal < {GOAL_SECONDS:.0f} s: {verdict})")
    else:
        print(f"goal < {GOAL_SECONDS:.0f} s is for 1,000,000 rows: no verdict at {args.rows}")
    print(f"peak RSS: import only {base_rss:.0f} MiB; export {run['rss']:.0f} MiB "
          f"(+{run['rss'] - base_rss:.0f} MiB)")  # fmt: skip
    print(f"GET check: one exported URL → HTTP {status} from moto")
    for leftover in tmp.iterdir():
        leftover.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
