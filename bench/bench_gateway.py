"""Gateway benchmark: redirects per second and latency on loopback, against a bare ASGI
handler that answers every request with a fixed 302 (same uvicorn, same settings: both take
them from ``orchestration_pkg.server.run.uvicorn_options``); the catalog on SQLite and on
PostgreSQL.

Every server runs in its own process: the gateway (``orchestration-pkg serve``, this checkout:
``PYTHONPATH`` is set to it), the bare handler, a throwaway PostgreSQL and moto (one redirect
is followed to check the signature's URL serves the object). The load comes from another
process: a hand-written asyncio HTTP/1.1 keep-alive client (wrk is not installed; httpx's own
per-request cost would be the bottleneck and hide the servers' difference). Every request is
a real token check, file lookup and presign with a bearer token.

Two workloads per server, on a freshly started gateway:
- cold (first pass): every registered key requested exactly once, so every token/file lookup
  misses the gateway's cache and reads the catalog;
- steady (the goal's workload): then the same keys again and again for ``--seconds`` (after
  a warm-up), as a labeling tool re-requesting its links does; lookups are cache hits,
  checked fresh per request (SQLite ``PRAGMA data_version``; PostgreSQL LISTEN/NOTIFY).

Goal: the gateway serves ≥ 0.5× the bare handler's redirects/s (steady). Prints p50/p99.

Every run starts fresh servers (all of them at once, idle while not measured), runs each
one's cold pass, then ``--rounds`` steady slices of ``--seconds``, server after server, so the
shared machine's changing load falls on all alike; each row is the best slice. The bare
handler receives the same request bytes (the ``Authorization`` header too).

Usage: python bench/bench_gateway.py [--files 30000] [--connections 32] [--seconds 3]
                                     [--runs 2] [--rounds 3] [--catalogs sqlite,postgresql]
                                     [--access-log] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _servers import free_port, start_moto, stop  # noqa: E402

BUCKET = "bench-gateway"
GOAL = 0.5
CLI = str(Path(sys.executable).parent / "orchestration-pkg")
BARE_APP = """
import sys, uvicorn
from orchestration_pkg.server.run import uvicorn_options
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 302, "headers": [
        (b"location", b"http://127.0.0.1:1/bucket/key?X-Amz-Signature=0"),
        (b"cache-control", b"no-store"), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, **uvicorn_options("127.0.0.1", int(sys.argv[1])))
"""
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true"}


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before answering {url}")
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
        try:  # any answer will do (http.client, unlike urllib, does not follow a 302)
            conn.request("GET", parts.path or "/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    raise SystemExit(f"no answer from {url}")


# -- servers ---------------------------------------------------------------------------------


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start_postgres() -> tuple[str, Path, Path] | None:
    """(URL, bin dir, data dir) of a throwaway server, or None without PostgreSQL binaries."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = shutil.which("initdb") or (found[-1] if found else None)
    if initdb is None:
        return None
    initdb = os.path.realpath(initdb)  # a PATH wrapper: pg_ctl lives next to the real one
    bindir, workdir = Path(initdb).parent, Path(tempfile.mkdtemp(prefix="op-bench-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses root: its own user owns the directory
        shutil.chown(workdir, "postgres", "postgres")
    data, port = workdir / "data", free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    run = {"cwd": workdir, "env": env, "capture_output": True, "check": True}
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync",
                      "-E", "UTF8", "--no-locale"]),
        **run,
    )  # fmt: skip
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\nfsync = off\n")
        conf.write(f"synchronous_commit = off\nunix_socket_directories = '{workdir}'\n")
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(workdir / "log"), "-w"]
    subprocess.run(_as_postgres([*pg_ctl, "start"]), **run)
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute('CREATE DATABASE "bench"')
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench", bindir, data


def stop_postgres(bindir: Path, data: Path) -> None:
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    subprocess.run(_as_postgres(pg_ctl), capture_output=True, check=False)
    shutil.rmtree(data.parent, ignore_errors=True)


def fill(catalog_url: str, endpoint: str, files: int) -> tuple[str, list[str]]:
    """The folder 'lake' with ``files`` rows and one real object; (token, request paths)."""
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.catalog.schema import files as files_table
    from orchestration_pkg.core.gateway.tokens import create_token

    catalog = Catalog(catalog_url)
    folder_id = catalog.ensure_folder("lake").id
    now = datetime.now(timezone.utc)
    keys = [f"img/{i // 1000:03d}/frame {i:06d}+é.jpg" for i in range(files)]
    rows = [
        {"folder_id": folder_id, "integration": "bench", "object_url": f"s3://{BUCKET}/{k}",
         "key": k, "media_kind": "image", "size": 1000, "media_metadata": {},
         "client_metadata": {}, "created_at": now, "updated_at": now}
        for k in keys
    ]  # fmt: skip
    with catalog.engine.begin() as conn:
        conn.execute(files_table.insert(), rows)
    token, _ = create_token(catalog, "bench", ["lake"])
    catalog.dispose()
    return token, [f"/v1/folders/lake/files/{quote(k, safe='/~')}" for k in keys]


def start_gateway(config: Path, access_log: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    level = "info" if access_log else "warning"
    cmd = [CLI, "--config", str(config), "serve", "--port", str(port), "--log-level", level]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/healthz", proc)
    return proc, base


def _first_redirect(base: str, paths_file: Path, token: str) -> str:
    """Follow the first path's redirect to moto (this also builds the gateway's S3 client,
    a once-per-process cost, before the cold pass): its status and body."""
    request = urllib.request.Request(
        base + json.loads(paths_file.read_text())[0], headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return f"{response.status} {response.read()!r}"


def start_bare() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-c", BARE_APP, str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/", proc)
    return proc, base


# -- load generator (its own process) ------------------------------------------------------


async def _worker(port: int, requests: list[bytes], stop_at: float, warm_until: float,
                  lat: list[float], statuses: Counter[int], once: bool) -> None:  # fmt: skip
    """Why hand-written: a keep-alive loop of raw HTTP/1.1 requests costs the client a few
    microseconds each, so the servers, not the client, set the pace. ``once``: each of
    ``requests`` exactly once (the cold pass), else round and round until ``stop_at``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while (now := time.perf_counter()) < stop_at and not (once and i >= len(requests)):
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if now >= warm_until:
                lat.append(time.perf_counter() - now)
                statuses[int(head[9:12])] += 1
    finally:
        writer.close()


def load(port: int, paths_file: str, token: str, connections: int, seconds: float,
         mode: str) -> None:  # fmt: skip
    """Print one JSON line: redirects/s, p50/p99 ms, statuses. ``mode``: ``steady`` (the
    paths round and round for ``seconds`` after a warm-up) or ``cold`` (each path once, split
    between the connections; the rate is requests ÷ the time until the last answer)."""
    paths = json.loads(Path(paths_file).read_text())
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n".encode() for p in paths]
    lat: list[float] = []
    statuses: Counter[int] = Counter()
    elapsed = seconds

    async def main() -> None:
        nonlocal elapsed
        start = time.perf_counter()
        if mode == "cold":
            step = -(-len(requests) // connections)
            slices = [requests[i * step : (i + 1) * step] for i in range(connections)]
            await asyncio.gather(
                *(_worker(port, part, start + 3600, start, lat, statuses, True)
                  for part in slices if part)
            )  # fmt: skip
            elapsed = time.perf_counter() - start
            return
        warm, stop = start + min(1.0, seconds / 4), start + min(1.0, seconds / 4) + seconds
        step = max(1, len(requests) // connections)
        await asyncio.gather(
            *(_worker(port, requests[i * step :] + requests[: i * step], stop, warm, lat,
                      statuses, False) for i in range(connections))
        )  # fmt: skip

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    lat.sort()
    print(json.dumps({
        "rps": len(lat) / elapsed,
        "p50": lat[len(lat) // 2] * 1000 if lat else 0,
        "p99": lat[int(len(lat) * 0.99)] * 1000 if lat else 0,
        "statuses": dict(statuses),
    }))  # fmt: skip


def measure(base: str, paths_file: Path, token: str, connections: int, seconds: float,
            mode: str = "steady") -> dict:  # fmt: skip
    port = base.rsplit(":", 1)[1]
    cmd = [sys.executable, __file__, "--load", port, str(paths_file), token or "-",
           str(connections), str(seconds), mode]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=ENV)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- main ------------------------------------------------------------------------------------


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=30_000, help="also the cold pass's size")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0, help="per steady slice")
    parser.add_argument("--runs", type=int, default=2, help="fresh servers, cold pass each")
    parser.add_argument("--rounds", type=int, default=3, help="steady slices per run")
    parser.add_argument("--catalogs", default="sqlite,postgresql")
    parser.add_argument("--access-log", action="store_true", help="gateway logs each request")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument(
        "--load", nargs=6, metavar=("PORT", "PATHS", "TOKEN", "CONNS", "SECS", "MODE")
    )
    args = parser.parse_args()
    if args.smoke:
        args.files, args.connections, args.seconds, args.runs, args.rounds = 200, 8, 1.0, 1, 1
    args.catalogs = [c.strip() for c in args.catalogs.split(",") if c.strip()]
    return args


def main() -> None:
    args = _parse()
    if args.load:
        port, paths, token, conns, secs, mode = args.load
        load(int(port), paths, "" if token == "-" else token, int(conns), float(secs), mode)
        return
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    tmp = Path(tempfile.mkdtemp(prefix="op-bench-gateway-"))
    moto, endpoint = start_moto()
    pg = None
    results: dict[str, list[dict]] = {}
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="x")  # fmt: skip
        s3.create_bucket(Bucket=BUCKET)
        gateways: dict[str, tuple[Path, Path, str]] = {}
        for name in args.catalogs:
            if name == "postgresql":
                pg = start_postgres()
                if pg is None:
                    print("PostgreSQL: no initdb found; skipped", flush=True)
                    continue
                url = pg[0]
            else:
                url = f"sqlite:///{tmp / 'cat.db'}"
            print(f"filling the {name} catalog with {args.files} files …", flush=True)
            token, paths = fill(url, endpoint, args.files)
            first_key = "img/000/frame 000000+é.jpg"
            s3.put_object(Bucket=BUCKET, Key=first_key, Body=b"the object")
            config = tmp / f"{name}.json"
            config.write_text(json.dumps({
                "catalog": url,
                "integrations": [{"name": "bench", "bucket": BUCKET, "endpoint_url": endpoint,
                                  "auth": {"method": "access_key", "access_key_id": "bench",
                                           "secret_access_key": "x"}}],
                "gateway": {"rate_limit": {"requests_per_second": 1e9, "burst": 10**9}},
            }))  # fmt: skip
            paths_file = tmp / f"{name}.paths.json"
            paths_file.write_text(json.dumps(paths))
            gateways[name] = (config, paths_file, token)
        first_paths, first_token = next(iter(gateways.values()))[1:]
        check = ""
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs}: fresh servers, cold passes …", flush=True)
            # the bare handler gets the very same request bytes (Authorization included)
            servers = {"bare ASGI 302": (start_bare(), first_paths, first_token)}
            try:
                for name, (config, paths_file, token) in gateways.items():
                    servers[f"gateway ({name})"] = (
                        start_gateway(config, args.access_log),
                        paths_file,
                        token,
                    )
                    answer = _first_redirect(servers[f"gateway ({name})"][0][1], paths_file, token)
                    check = check or answer
                for label, ((_, base), paths_file, token) in servers.items():
                    row = measure(base, paths_file, token, args.connections, args.seconds, "cold")
                    results.setdefault(f"cold: {label}", []).append(row)
                for rnd in range(args.rounds):  # steady slices, interleaved server by server
                    print(f"run {run + 1}/{args.runs}: steady round {rnd + 1}/{args.rounds} …",
                          flush=True)  # fmt: skip
                    for label, ((_, base), paths_file, token) in servers.items():
                        row = measure(base, paths_file, token, args.connections, args.seconds)
                        results.setdefault(f"steady: {label}", []).append(row)
            finally:
                for (proc, _), _, _ in servers.values():
                    stop(proc)
    finally:
        stop(moto)
        if pg is not None:
            stop_postgres(pg[1], pg[2])
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, args, check)


def report(results: dict[str, list[dict]], args: argparse.Namespace, check: str) -> None:
    log_note = (
        "on (--log-level info, to /dev/null)" if args.access_log else "off (--log-level warning)"
    )
    best = {name: max(rows, key=lambda r: r["rps"]) for name, rows in results.items()}
    print(
        f"\n== GET /v1/folders/lake/files/KEY → 302: {args.connections} keep-alive connections, "
        f"{args.runs} runs × {args.rounds} steady slices, best each, {args.files} files, "
        f"access log {'on' if args.access_log else 'off'} =="
    )
    for mode, what in (
        (
            "steady",
            f"steady state, the goal's workload: the same keys again ({args.seconds:g} s slices)",
        ),
        ("cold", f"cold: a fresh gateway, each of the {args.files} keys once (cache misses)"),
    ):
        bare = best[f"{mode}: bare ASGI 302"]["rps"]
        print(f"-- {what}")
        print(f"{'server':28} {'redirects/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} "
              f"{'verdict':>8}  statuses")  # fmt: skip
        for label, row in best.items():
            if not label.startswith(mode + ": "):
                continue
            name = label.split(": ", 1)[1] if mode == "steady" else label
            ratio = row["rps"] / bare
            verdict = "" if "bare" in name else ("PASS" if ratio >= GOAL else "FAIL")
            print(f"{name:28} {row['rps']:11.0f} {row['p50']:7.2f} {row['p99']:7.2f} "
                  f"{ratio:5.2f}× {verdict:>8}  {row['statuses']}")  # fmt: skip
    print(
        f"ratio = redirects/s ÷ the bare handler's under the same load (a fixed 302, same "
        f"uvicorn settings). Goal: ≥ {GOAL}× in steady state. Load: hand-written asyncio "
        "HTTP/1.1 client in its own process (wrk is not installed), on the same 2 cores as the "
        "server. Gateway per request: token + file lookup (cache hit checked fresh, or one "
        f"catalog read), S3 presign, access log {log_note}. Before the cold pass, one request "
        "(the redirect check) builds the S3 client, a once-per-process cost."
    )
    print(f"redirect check: following one redirect to moto → {check}")


if __name__ == "__main__":
    main()
