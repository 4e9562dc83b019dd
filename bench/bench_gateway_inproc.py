"""The gateway's own cost per redirect, in-process (no sockets, no uvicorn): µs per request
through the ASGI app, and per piece (path parsing, credentials, catalog lookup, presign).
Less noisy than bench_gateway.py on a shared machine; it tells where the time goes.

Each figure is the best of 5 repetitions. ``cold``: a fresh app, each key requested once (the
lookup cache misses); ``steady``: the same keys again. Each request runs in an event-loop
iteration of its own (``asyncio.sleep(0)`` before it, ~1 µs, counted). ``--access-log``: the
access log on, as ``serve --log-level info`` configures it, written to /dev/null.

Usage: python bench/bench_gateway_inproc.py [--catalog sqlite|postgresql] [--files 5000]
       [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from bench_gateway import start_postgres, stop_postgres  # noqa: E402


def fill(url: str, files: int) -> tuple[Any, Any, str, list[str]]:
    """(catalog, config, token, request paths) of a folder 'lake' with ``files`` rows."""
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.catalog.schema import files as files_table
    from orchestration_pkg.core.config import parse_config
    from orchestration_pkg.core.gateway.tokens import create_token

    catalog = Catalog(url)
    folder_id = catalog.ensure_folder("lake").id
    now = datetime.now(timezone.utc)
    keys = [f"img/{i // 1000:03d}/frame {i:06d}+é.jpg" for i in range(files)]
    rows = [
        {"folder_id": folder_id, "integration": "bench", "object_url": f"s3://b/{k}", "key": k,
         "media_kind": "image", "size": 1000, "media_metadata": {}, "client_metadata": {},
         "created_at": now, "updated_at": now}
        for k in keys
    ]  # fmt: skip
    with catalog.engine.begin() as conn:
        conn.execute(files_table.insert(), rows)
    token, _ = create_token(catalog, "bench", ["lake"])
    config = parse_config({
        "catalog": url,
        "integrations": [{"name": "bench", "bucket": "bench-gateway",
                          "endpoint_url": "http://127.0.0.1:9", "auth": {
                              "method": "access_key", "access_key_id": "bench",
                              "secret_access_key": "x"}}],
        "gateway": {"rate_limit": {"requests_per_second": 1e9, "burst": 10**9}},
    })  # fmt: skip
    return catalog, config, token, [f"/v1/folders/lake/files/{quote(k, safe='/~')}" for k in keys]


def _access_log(on: bool) -> None:
    access = logging.getLogger("orchestration_pkg.gateway.access")
    access.propagate = False
    if not on:
        access.setLevel(logging.WARNING)
        return
    devnull = open(os.devnull, "w", buffering=1 << 16)  # noqa: SIM115
    try:  # serve's own set-up when this checkout has it, else a plain StreamHandler
        from orchestration_pkg.server.run import access_log_handler

        access_log_handler("info", devnull)
        return
    except ImportError:
        handler = logging.StreamHandler(open(os.devnull, "w", buffering=1))  # noqa: SIM115
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)


def best_us(fn: Callable[[int], Any], n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args()
    pg = None
    if args.catalog == "postgresql":
        pg = start_postgres()
        if pg is None:
            raise SystemExit("no PostgreSQL binaries")
        url = pg[0]
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='op-bench-inproc-')}/cat.db"
    try:
        run(url, args)
    finally:
        if pg is not None:
            stop_postgres(pg[1], pg[2])


def run(url: str, args: argparse.Namespace) -> None:
    from orchestration_pkg.server import app as app_module
    from orchestration_pkg.server.app import create_app

    catalog, config, token, paths = fill(url, args.files)
    _access_log(args.access_log)
    auth = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]
    scopes = [
        {"type": "http", "method": "GET", "path": p, "raw_path": p.encode(), "query_string": b"",
         "headers": auth, "client": ("127.0.0.1", 5555)}
        for p in paths
    ]  # fmt: skip
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    loop = asyncio.new_event_loop()

    def requests(app: Any, n: int, offset: int = 0) -> float:
        async def go() -> None:
            for i in range(n):
                await asyncio.sleep(0)  # each request in a loop iteration of its own, as if
                # from a server with one request at a time (per-iteration checks: no sharing)
                await app(dict(scopes[(offset + i) % len(scopes)]), receive, send)

        start = time.perf_counter()
        loop.run_until_complete(go())
        return (time.perf_counter() - start) / n * 1e6

    app = create_app(config, catalog)
    requests(app, 1, len(scopes) - 1)  # builds the S3 client and presigner (once a process)
    cold = requests(app, len(scopes) - 1)
    steady = min(requests(app, args.requests) for _ in range(5))
    assert statuses == {302}, statuses
    # the pieces on an app of their own, called outside any event loop
    pieces = create_app(config, catalog)
    resolver = (getattr(pieces, "gateway", None) or pieces.app).resolver
    parts = [app_module.split_path(s["raw_path"]) for s in scopes]
    creds = app_module._credentials(scopes[0])
    storage = resolver._storage("bench")
    n = args.requests
    rows = {
        "ASGI request, cold (each key once)": cold,
        "ASGI request, steady (same keys again)": steady,
        "  split_path": best_us(
            lambda i: app_module.split_path(scopes[i % len(scopes)]["raw_path"]), n
        ),
        "  credentials": best_us(lambda i: app_module._credentials(scopes[0]), n),
        "  resolve (lookup + checks + sign)": best_us(
            lambda i: resolver.resolve(*parts[i % len(parts)], creds), n
        ),
        "  lookup.token_and_file": best_us(
            lambda i: resolver.lookup.token_and_file(token, *parts[i % len(parts)]), n
        ),
        "  storage.sign (S3)": best_us(
            lambda i: storage.sign(parts[i % len(parts)][1], 300, min_ttl=60), n
        ),
        "  presigner.presign": best_us(
            lambda i: storage.presigner.presign(parts[i % len(parts)][1], 300), n
        ),
    }  # fmt: skip
    log = "on" if args.access_log else "off"
    print(f"== gateway in-process, catalog {args.catalog}, {args.files} files, access log {log}:"
          f" µs per request (best of 5) ==")  # fmt: skip
    for name, us in rows.items():
        print(f"{name:42} {us:8.1f} µs")
    for each in (app, pieces):
        close = getattr(each, "close", None)
        if close is not None:
            close()
    catalog.dispose()


if __name__ == "__main__":
    main()
