"""Registration benchmark on a loopback S3 server (moto), with same-run baselines.

Prints, for N small images:
  * baseline: paginated list_objects_v2 of the keys, and one HEAD per object (same concurrency)
  * (a) registration with metadata given in the manifest, no fetch
  * (b) registration with header probing (one ranged GET per image)
  * (c) as (a) but strict: rows staged, published in one transaction at the end
  * bytes read per probed image (median) and the ratio of (b) to one HEAD per object
and the peak RSS of registering a 1,000,000-row manifest without fetching, in a child process,
next to the RSS of a child that only imports the package.

Usage: python bench/bench_register.py [--n 20000] [--rows 1000000] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration_pkg.core.catalog import Catalog  # noqa: E402
from orchestration_pkg.core.config import S3IntegrationConfig  # noqa: E402
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions  # noqa: E402
from orchestration_pkg.core.manifest import read_manifest  # noqa: E402
from orchestration_pkg.core.media.dispatch import probe_object  # noqa: E402
from orchestration_pkg.core.providers.s3.storage import S3Storage  # noqa: E402

BUCKET = "bench-bucket"
CONCURRENCY = 32


def _images() -> list[bytes]:
    out = []
    for i, fmt in enumerate(("JPEG", "PNG", "WEBP", "JPEG")):
        buf = io.BytesIO()
        Image.new("RGB", (64 + i * 16, 48 + i * 8), (i * 40, 90, 120)).save(buf, fmt)
        out.append(buf.getvalue())
    return out


def _client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=CONCURRENCY, retries={"mode": "standard"}),
    )


def _fill(endpoint: str, n: int) -> list[str]:
    s3 = _client(endpoint)
    s3.create_bucket(Bucket=BUCKET)
    blobs = _images()
    exts = ("jpg", "png", "webp", "jpg")
    keys = [f"img/{i // 1000:03d}/image {i:06d}.{exts[i % 4]}" for i in range(n)]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(
            pool.map(
                lambda ik: s3.put_object(Bucket=BUCKET, Key=ik[1], Body=blobs[ik[0] % 4]),
                enumerate(keys),
            )
        )
    return keys


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _list_all(endpoint: str) -> int:
    pages = _client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return sum(len(p.get("Contents", [])) for p in pages)


def _head_all(endpoint: str, keys: list[str]) -> int:
    s3 = _client(endpoint)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return len(list(pool.map(lambda k: s3.head_object(Bucket=BUCKET, Key=k), keys)))


def _manifest(path: Path, keys, with_metadata: bool) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"images": [\n')
        for i, key in enumerate(keys):
            item: dict = {"objectUrl": f"s3://{BUCKET}/{key}"}
            if with_metadata:
                item["imageMetadata"] = {
                    "width": 64,
                    "height": 48,
                    "fileSize": 1000,
                    "mimeType": "image/jpeg",
                }
            fh.write(("," if i else "") + json.dumps(item) + "\n")
        fh.write("]}\n")
    return path


def _register(storage: S3Storage, db: Path, manifest: Path, fetch: str, strict: bool = False):
    catalog = Catalog(f"sqlite:///{db}")
    try:
        engine = RegistrationEngine(catalog, storage)
        opts = RegistrationOptions(fetch=fetch, ignore_errors=not strict, concurrency=CONCURRENCY)
        return engine.register(read_manifest(manifest), "bench", opts)
    finally:
        catalog.dispose()


def _rss_child(mode: str, manifest: str, db: str) -> None:
    """Child process: print peak RSS (MiB) after importing (baseline) or registering."""
    if mode == "register":
        cfg = S3IntegrationConfig(name="bench", bucket=BUCKET, endpoint_url="http://127.0.0.1:1")
        result = _register(S3Storage(cfg), Path(db), Path(manifest), "none")
        assert result.registered > 0, result.error
    print(_peak_rss_mib())


def _peak_rss_mib() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and
    would report the (large) parent's size at fork time."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss(mode: str, manifest: Path, db: Path) -> float:
    proc = subprocess.run(
        [sys.executable, __file__, "--rss-child", mode, str(manifest), str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def _rss_report(rows: int, tmp: Path) -> None:
    big = tmp / "big.json"
    print(f"\nwriting a {rows}-row manifest …", flush=True)
    _manifest(big, (f"img/x/{i:07d}.jpg" for i in range(rows)), True)
    rss_base = _rss("import", big, tmp / "rss.db")
    t_rss, rss_reg = _timed(lambda: _rss("register", big, tmp / "rss.db"))
    print(
        f"peak RSS: import only {rss_base:.0f} MiB; registering {rows} rows without "
        f"fetch {rss_reg:.0f} MiB (ratio {rss_reg / rss_base:.2f}, goal ≤ 300 MB) "
        f"in {t_rss:.1f} s ({rows / t_rss:.0f} rows/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--rss-only", action="store_true", help="only the 1M-row RSS run")
    parser.add_argument("--rss-child", nargs=3, metavar=("MODE", "MANIFEST", "DB"))
    args = parser.parse_args()
    if args.rss_child:
        _rss_child(*args.rss_child)
        return
    if args.smoke:
        args.n, args.rows = 200, 2_000
    if args.rss_only:
        _rss_report(args.rows, Path(tempfile.mkdtemp(prefix="op-bench-")))
        return
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # request lines would flood stdout
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # noqa: SLF001
    tmp = Path(tempfile.mkdtemp(prefix="op-bench-"))
    try:
        print(f"filling {args.n} images on {endpoint} …", flush=True)
        keys = _fill(endpoint, args.n)
        storage = S3Storage(
            S3IntegrationConfig(
                name="bench", bucket=BUCKET, endpoint_url=endpoint, max_pool_connections=CONCURRENCY
            )
        )
        t_list, listed = _timed(lambda: _list_all(endpoint))
        t_head, _ = _timed(lambda: _head_all(endpoint, keys))
        m_meta = _manifest(tmp / "with_meta.json", keys, True)
        m_bare = _manifest(tmp / "bare.json", keys, False)
        t_a, res_a = _timed(lambda: _register(storage, tmp / "a.db", m_meta, "none"))
        t_b, res_b = _timed(lambda: _register(storage, tmp / "b.db", m_bare, "auto"))
        t_c, res_c = _timed(lambda: _register(storage, tmp / "c.db", m_meta, "none", strict=True))
        sample = keys[:: max(1, len(keys) // 500)]
        per_image = [probe_object(storage, k).bytes_read for k in sample]

        n = args.n
        print(f"\nN = {n} images, concurrency {CONCURRENCY}, loopback moto")
        print(f"{'run':46} {'seconds':>8} {'files/s':>9} {'× list':>7} {'× HEAD':>7}")
        rows = [
            ("baseline: paginated list_objects_v2", t_list, listed),
            ("baseline: one HEAD per object", t_head, n),
            ("(a) register, metadata in manifest, no fetch", t_a, res_a.registered),
            ("(b) register with header probing", t_b, res_b.registered),
            ("(c) as (a), strict: staged, published at end", t_c, res_c.registered),
        ]
        for name, secs, count in rows:
            print(
                f"{name:46} {secs:8.2f} {count / secs:9.0f} {secs / t_list:7.2f} "
                f"{secs / t_head:7.2f}"
            )
        print(
            f"(b) requests per image: {res_b.requests / max(1, res_b.registered):.2f}; "
            f"bytes read per image: median {statistics.median(per_image):.0f}, "
            f"max {max(per_image)} (goal: median ≤ 65536)"
        )
        print(f"(b) time / one-HEAD-per-object time: {t_b / t_head:.2f} (goal ≤ 3)")
        print(f"(c) strict / (a) --ignore-errors time: {t_c / t_a:.2f} (the cost of staging)")

        big = tmp / "big.json"
        print(f"\nwriting a {args.rows}-row manifest …", flush=True)
        _manifest(big, (f"img/x/{i:07d}.jpg" for i in range(args.rows)), True)
        rss_base = _rss("import", big, tmp / "rss.db")
        t_rss, rss_reg = _timed(lambda: _rss("register", big, tmp / "rss.db"))
        print(
            f"peak RSS: import only {rss_base:.0f} MiB; registering {args.rows} rows without "
            f"fetch {rss_reg:.0f} MiB (ratio {rss_reg / rss_base:.2f}, goal ≤ 300 MB) "
            f"in {t_rss:.1f} s ({args.rows / t_rss:.0f} rows/s)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
