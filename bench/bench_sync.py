"""Prefix-sync benchmark on a loopback S3 server (moto in its own process).

Prints, for N small objects (put with 32 threads; the fill time is printed):
  * baseline: one paginated list_objects_v2 of the prefix with a reused boto3 client
  * the first ``sync --fetch none`` (every object added, goal ≤ 1.5× the baseline) and a
    re-sync of the unchanged bucket (one listing + one catalog diff, goal ≤ 1.2×), each with
    its ratio and a verdict; interleaved, best of RUNS
and the peak RSS of the streamed diff of a ROWS-row folder against a ROWS-object listing,
in a child process, next to a child that only imports the package (bounded memory).

Usage: python bench/bench_sync.py [--n 10000] [--runs 5] [--rows 1000000 | --rows 0] [--smoke]
       python bench/bench_sync.py --n 100000 --runs 3 --rows 0   # the 100k run, ~10 min here
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _servers import start_moto, stop  # noqa: E402

from orchestration_pkg.core.catalog import Catalog, FileRecord  # noqa: E402
from orchestration_pkg.core.catalog.sync_queries import iter_sync_rows  # noqa: E402
from orchestration_pkg.core.config import S3IntegrationConfig  # noqa: E402
from orchestration_pkg.core.engine import RegistrationOptions  # noqa: E402
from orchestration_pkg.core.models import ObjectInfo  # noqa: E402
from orchestration_pkg.core.providers.s3.storage import S3Storage  # noqa: E402
from orchestration_pkg.core.sync import PrefixSync, merge  # noqa: E402

BUCKET = "bench-sync"
CONCURRENCY = 32
GOAL_FIRST = 1.5  # first sync --fetch none vs one bare listing (issue 8)
GOAL_RESYNC = 1.2  # re-sync of an unchanged bucket vs one bare listing
RUNS = 5


def _client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=CONCURRENCY, retries={"mode": "standard"}),
    )


def _fill(endpoint: str, n: int) -> None:
    s3 = _client(endpoint)
    s3.create_bucket(Bucket=BUCKET)
    names = ("plain", "with space", "plus+sign", "café", "日本", "Upper")
    keys = [f"lake/{i // 1000:03d}/{names[i % 6]} {i:06d}.bin" for i in range(n)]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode()), keys))


def _sync_report(n: int, runs: int = RUNS) -> None:
    proc, endpoint = start_moto()
    tmp = Path(tempfile.mkdtemp(prefix="op-bench-sync-"))
    try:
        print(f"filling {n} objects on {endpoint} (moto in its own process) …", flush=True)
        started = time.perf_counter()
        _fill(endpoint, n)
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
        client = _client(endpoint)

        def list_all() -> int:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="lake/")
            return sum(len(p.get("Contents", [])) for p in pages)

        assert list_all() == n  # warm-up: connections, moto's caches
        cfg = S3IntegrationConfig(
            name="bench", bucket=BUCKET, endpoint_url=endpoint, max_pool_connections=CONCURRENCY
        )
        storage = S3Storage(cfg)
        opts = RegistrationOptions(fetch="none", concurrency=CONCURRENCY)
        catalogs: list[Catalog] = []

        def first_sync() -> None:  # into a new, empty catalog each time
            catalog = Catalog(f"sqlite:///{tmp / f'first-{len(catalogs)}.db'}")
            catalogs.append(catalog)
            result = PrefixSync(catalog, storage).run(
                "lake", "lake/", key_prefix="lake/", options=opts
            )
            assert result.added == n, result.job.error

        resync = PrefixSync(Catalog(f"sqlite:///{tmp / 'catalog.db'}"), storage)
        first = resync.run("lake", "lake/", key_prefix="lake/", options=opts)
        assert first.added == n, first.job.error

        def again() -> None:
            result = resync.run("lake", "lake/", key_prefix="lake/", options=opts)
            assert result.unchanged == n and result.added == result.updated == result.removed == 0

        # Interleaved, best of ``runs`` each: on a shared machine the noise hits all alike.
        times: dict[str, list[float]] = {"list": [], "first": [], "again": []}
        for _ in range(runs):
            for name, fn in (("list", list_all), ("first", first_sync), ("again", again)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        t_list, t_first, t_again = (min(times[k]) for k in ("list", "first", "again"))
        for catalog in catalogs:
            catalog.dispose()
        resync.catalog.dispose()
        print(
            f"baseline: list_objects_v2 of {n} keys (reused boto3 client) {t_list:.3f} s "
            f"(best of {runs})"
        )
        for label, took, goal in (
            ("first sync --fetch none (all added)", t_first, GOAL_FIRST),
            ("re-sync, unchanged", t_again, GOAL_RESYNC),
        ):
            ratio = took / t_list
            verdict = "OK" if ratio <= goal else "MISSED"
            print(
                f"{label}: {took:.3f} s ({n / took:.0f} obj/s) = {ratio:.2f}× the bare listing "
                f"(goal ≤ {goal}×): {verdict}"
            )
    finally:
        stop(proc)


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _child(mode: str, db: str, rows: int) -> None:
    """fill: a folder of ``rows`` rows; diff: merge them with a generated listing (1 in 1000
    gone, 1 in 1000 changed, 1 in 1000 new); import: nothing. Prints peak RSS (MiB)."""
    if mode == "fill":
        catalog = Catalog(f"sqlite:///{db}")
        folder = catalog.ensure_folder("big")
        with catalog.writer(folder.id) as writer:
            for start in range(0, rows, 5000):
                batch = [
                    FileRecord(
                        object_url=f"s3://{BUCKET}/big/{i:07d}.jpg",
                        key=f"big/{i:07d}.jpg",
                        integration="bench",
                        size=1000,
                        etag="e",
                    )
                    for i in range(start, min(rows, start + 5000))
                ]
                writer.upsert(batch)
                writer.commit()
    elif mode == "diff":
        started = time.perf_counter()
        catalog = Catalog(f"sqlite:///{db}")
        folder_id = catalog.get_folder("big").id
        listing = (
            ObjectInfo(key=f"big/{i:07d}{'x' if i % 1000 == 7 else ''}.jpg", size=1000, etag="e2")
            if i % 1000 == 3
            else ObjectInfo(
                key=f"big/{i:07d}{'x' if i % 1000 == 7 else ''}.jpg", size=1000, etag="e"
            )
            for i in range(rows)
            if i % 1000 != 5
        )
        seen = {"same": 0, "changed": 0, "new": 0, "gone": 0}
        pairs = merge(
            listing,
            iter_sync_rows(catalog, folder_id, "bench", "big/"),
            lambda k: f"s3://{BUCKET}/{k}",
        )
        for info, row in pairs:
            if info is None:
                seen["gone"] += 1
            elif row is None:
                seen["new"] += 1
            elif info.etag != row.etag:
                seen["changed"] += 1
            else:
                seen["same"] += 1
        k = rows // 1000
        assert seen["changed"] == k and seen["new"] == k and seen["gone"] == 2 * k, seen
        print(_peak_rss_mib(), time.perf_counter() - started)
        return
    print(_peak_rss_mib(), 0.0)


def _run_child(mode: str, db: Path, rows: int) -> tuple[float, float]:
    """(peak RSS MiB, seconds of the measured work) of a child process."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(db), str(rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak, took = proc.stdout.strip().splitlines()[-1].split()
    return float(peak), float(took)


def _rss_report(rows: int) -> None:
    db = Path(tempfile.mkdtemp(prefix="op-bench-sync-")) / "big.db"
    print(f"\nwriting a {rows}-row folder …", flush=True)
    _run_child("fill", db, rows)
    base, _ = _run_child("import", db, rows)
    peak, took = _run_child("diff", db, rows)
    print(
        f"peak RSS: import only {base:.0f} MiB; streamed diff of {rows} rows vs {rows} listed "
        f"objects {peak:.0f} MiB (+{peak - base:.0f} MiB) in {took:.1f} s "
        f"({rows / took:.0f} keys/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--rows", type=int, default=1_000_000, help="0: no RSS report")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DB", "ROWS"))
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.smoke:
        args.n, args.rows = 300, 5_000
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    _sync_report(args.n, args.runs)
    if args.rows:
        _rss_report(args.rows)


if __name__ == "__main__":
    main()
