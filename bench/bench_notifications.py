"""Notification-path benchmark: NEW objects landing in a bucket of N (moto S3 + SQS in their
own process, real S3 → SQS event notifications), counted at the server side.

Both sides register the same NEW images into a folder that already holds the N objects:
  * notifications: one ``orchestration-pkg watch --once`` evaluation (the same core the Dagster
    sensor and its runs use: receive → inbox → delete → apply the batch), fetch auto;
  * baseline (polling): one ``sync`` of the prefix, fetch auto (a listing of N + NEW objects).
Every S3 and SQS request goes through a counting proxy (tests/fixtures/fault_proxy.py, in this
process; moto is in its own). Goal: the notification path costs O(NEW) storage requests and
no listing (S3 requests ≤ 2 × NEW, listings 0).

Usage: python bench/bench_notifications.py [--n 100000] [--new 100] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _servers import start_moto, stop  # noqa: E402
from bench_sync import BUCKET, CONCURRENCY, _client, _fill  # noqa: E402

from orchestration_pkg.core.catalog import Catalog  # noqa: E402
from orchestration_pkg.core.config import AppConfig  # noqa: E402
from orchestration_pkg.core.engine import RegistrationOptions  # noqa: E402
from orchestration_pkg.core.notifications import watch_integration  # noqa: E402
from orchestration_pkg.core.sync import sync_integration  # noqa: E402
from tests.fixtures.fault_proxy import FaultProxy, start_proxy  # noqa: E402

EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
GOAL_FACTOR = 2  # S3 requests per new object, at most


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32 + i % 7, 24), (i % 255, 90, 120)).save(buf, "PNG")
    return buf.getvalue()


def _config(tmp: Path, catalog: str, s3_url: str, queue_url: str) -> AppConfig:
    notifications = {"queue_url": queue_url, "max_messages": 10_000}
    integration = {
        "name": "bench",
        "provider": "s3",
        "bucket": BUCKET,
        "endpoint_url": s3_url,
        "max_pool_connections": CONCURRENCY,
        "watch": {"folder": "lake", "prefix": "lake/", "notifications": notifications},
    }
    return AppConfig(catalog=f"sqlite:///{tmp / catalog}", integrations=[integration])


def _s3_counts(proxy: FaultProxy) -> str:
    listing = proxy.count("GET", "list-type")
    gets = proxy.count("GET") - listing
    return f"{proxy.count()} S3 requests (list {listing}, GET {gets}, HEAD {proxy.count('HEAD')})"


def run(n: int, new: int, rounds: int = 3) -> bool:
    moto, endpoint = start_moto()
    tmp = Path(tempfile.mkdtemp(prefix="op-bench-notify-"))
    s3_proxy, s3_server = start_proxy(endpoint)
    sqs_proxy, sqs_server = start_proxy(endpoint)
    try:
        print(f"filling {n} objects on {endpoint} (moto in its own process) …", flush=True)
        started = time.perf_counter()
        _fill(endpoint, n)
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
        sqs = boto3.client("sqs", endpoint_url=sqs_proxy.url, region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="bench-events")["QueueUrl"]
        assert queue_url.startswith(sqs_proxy.url), queue_url  # SQS calls go through the proxy
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        polling = _config(tmp, "polling.db", s3_proxy.url, queue_url)
        events = _config(tmp, "events.db", s3_proxy.url, queue_url)
        fast = RegistrationOptions(fetch="none", concurrency=CONCURRENCY)
        started = time.perf_counter()
        first = sync_integration(polling, "bench", options=fast)
        assert first.added == n, first.job.error
        took = time.perf_counter() - started
        print(f"registered the {n} objects (sync --fetch none) in {took:.1f} s")
        shutil.copy(tmp / "polling.db", tmp / "events.db")  # both folders hold the N objects

        s3 = _client(endpoint)
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": arn["Attributes"]["QueueArn"], "Events": EVENTS}
                ]
            },
        )
        watch_integration(events, "bench")  # moto's s3:TestEvent
        times: dict[str, list[float]] = {"events": [], "poll": []}
        for round_ in range(rounds):  # NEW fresh objects a round; the order alternates
            keys = [f"lake/new{round_}/{i:05d}.png" for i in range(new)]
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                bodies = [(key, _png(i)) for i, key in enumerate(keys)]
                list(
                    pool.map(lambda kb: s3.put_object(Bucket=BUCKET, Key=kb[0], Body=kb[1]), bodies)
                )
            order = ("events", "poll") if round_ % 2 == 0 else ("poll", "events")
            for side in order:
                s3_proxy.reset()
                sqs_proxy.reset()
                started = time.perf_counter()
                if side == "events":
                    result = watch_integration(events, "bench")
                    times[side].append(time.perf_counter() - started)
                    assert result.status == "DONE" and result.added == new, result.as_json()
                    events_line = f"{_s3_counts(s3_proxy)}, {sqs_proxy.count()} SQS requests"
                    s3_events, listings = s3_proxy.count(), s3_proxy.count("GET", "list-type")
                else:
                    synced = sync_integration(polling, "bench")
                    times[side].append(time.perf_counter() - started)
                    assert synced.added == new, synced.as_json()
                    poll_line = _s3_counts(s3_proxy)
        took_events, took_poll = min(times["events"]), min(times["poll"])
        print(
            f"notifications: {new} new objects registered in {took_events:.2f} s "
            f"(best of {rounds}): {events_line}"
        )
        print(
            f"baseline, polling (sync of the prefix): {new} new objects registered in "
            f"{took_poll:.2f} s (best of {rounds}): {poll_line}"
        )
        ok = listings == 0 and s3_events <= GOAL_FACTOR * new
        print(
            f"goal: O({new}) storage requests (≤ {GOAL_FACTOR * new}) and no listing: "
            f"{s3_events} requests, {listings} listings: {'OK' if ok else 'MISSED'}; "
            f"{took_poll / took_events:.1f}× the speed of the polling sync"
        )
        Catalog(events.catalog).dispose()
        return ok
    finally:
        for server in (s3_server, sqs_server):
            server.shutdown()
            server.server_close()
        stop(moto)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000, help="objects already in the bucket")
    parser.add_argument("--new", type=int, default=100, help="objects that land")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.new, args.rounds = 200, 10, 1
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    if not run(args.n, args.new, args.rounds):
        sys.exit(1)


if __name__ == "__main__":
    main()
