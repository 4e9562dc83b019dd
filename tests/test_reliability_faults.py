"""Reliability under injected storage faults, on the S3, GCS and Azure emulators.

A loopback proxy in front of each emulator fails 10 % of object requests: 500/503 answers,
connection resets (before the answer, inside the body, inside an error body), bodies cut short
and stalls longer than the read timeout. Which request fails is a pure function of the seed,
the object and the request's number for that object (the same whatever the thread schedule),
and never more than ``max_attempts - 1`` requests of one object fail in a row: every file can
be registered within the retry policy, so anything lost, duplicated or wrong is a bug.

Checked: the strict job registers all N files (0 lost) with the right metadata (a truncated
body never yields a wrong size), the folder holds exactly N rows (0 duplicated), every object
cost at most ``max_attempts`` requests, every kind of fault was injected, and registering the
same manifest again changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from typing import Any

import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.registration import build_storage
from tests.media import image_bytes

N = 40
RETRY = {
    "max_attempts": 6,
    "backoff_seconds": 0.01,
    "max_backoff_seconds": 0.05,
    "read_timeout_seconds": 0.5,
}
STALL_SECONDS = 0.8  # longer than the read timeout: a stall is a timeout, then a retry
KINDS = ("503", "500", "reset", "stall", "truncate", "reset_body", "reset_error_body")


class Chaos:
    """The proxy's fault function: ``rate`` of object requests fail, deterministically."""

    def __init__(self, seed: int, rate: float, max_run: int) -> None:
        self.seed, self.rate, self.max_run = seed, rate, max_run
        self.requests: Counter[str] = Counter()
        self.run: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str) -> str | None:
        name = path.split("?", 1)[0].rsplit("/", 1)[-1]
        if not name.startswith("obj-"):
            return None
        with self.lock:
            n = self.requests[name]
            self.requests[name] += 1
            digest = hashlib.sha256(f"{self.seed}:{name}:{n}".encode()).digest()
            roll = int.from_bytes(digest[:4], "big") / 2**32
            if roll >= self.rate or self.run[name] >= self.max_run:
                self.run[name] = 0
                return None
            self.run[name] += 1
            fault = KINDS[digest[4] % len(KINDS)]
            self.injected[fault] += 1
            return fault


def _objects() -> dict[str, tuple[int, int]]:
    return {f"obj-{i:03d}.png": (3 + i % 13, 2 + i % 7) for i in range(N)}


def _storage_behind_proxy(provider: str, request: Any, fault_proxy: Any) -> tuple[Any, Any]:
    """A storage of ``provider`` reaching its emulator through a fault proxy; N objects."""
    if provider == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        proxy = fault_proxy(bucket.endpoint)
        cfg = request.getfixturevalue("s3_config_factory")(endpoint_url=proxy.url, retry=RETRY)
    elif provider == "gcs":
        bucket = request.getfixturevalue("gcs_bucket")
        proxy = fault_proxy(bucket.endpoint)
        cfg = request.getfixturevalue("gcs_config_factory")(endpoint_url=proxy.url, retry=RETRY)
    else:
        bucket = request.getfixturevalue("azure_container")
        proxy = fault_proxy(bucket.account_url)
        account = bucket.account_url.rsplit("/", 1)[1]
        make = request.getfixturevalue("azure_config_factory")
        cfg = make(account_url=f"{proxy.url}/{account}", retry=RETRY)
    for name, (width, height) in _objects().items():
        bucket.put(name, image_bytes(width, height, "PNG"), "image/png")
    return build_storage(cfg), proxy


@pytest.mark.parametrize("provider", ["s3", "gcs", "azure"])
def test_faulty_storage_loses_nothing_duplicates_nothing(provider, request, fault_proxy, tmp_path):
    storage, proxy = _storage_behind_proxy(provider, request, fault_proxy)
    chaos = Chaos(seed=9, rate=0.10, max_run=RETRY["max_attempts"] - 1)
    proxy.stall_seconds = STALL_SECONDS
    proxy.fault = chaos
    rows = [{"url": storage.canonical_url(name)} for name in _objects()]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        engine = RegistrationEngine(catalog, storage)
        options = RegistrationOptions(concurrency=16)
        first = engine.register(read_manifest(path), "lake", options)
        files = {f.key: (f.width, f.height) for f in catalog.iter_files("lake")}
        count_after_first = dict(chaos.requests)
        again = engine.register(read_manifest(path), "lake", options)
        rows_after = [f.key for f in catalog.iter_files("lake")]
    finally:
        catalog.dispose()

    assert first.status is JobStatus.DONE, (first.error, first.unit_errors[:3])
    assert (first.registered, first.created, first.failed) == (N, N, 0)
    assert files == _objects()  # 0 lost, 0 wrong: every size as uploaded
    assert sorted(rows_after) == sorted(_objects())  # 0 duplicated, also after a re-run
    assert again.status is JobStatus.DONE and (again.unchanged, again.created) == (N, 0)
    # the faults really happened: about 10 % of requests, every kind
    total = sum(count_after_first.values())
    assert set(chaos.injected) == set(KINDS), chaos.injected
    assert sum(chaos.injected.values()) >= 0.05 * total
    # and no object cost more than the retry policy allows
    worst = max(count_after_first.values())
    assert worst <= RETRY["max_attempts"], (worst, count_after_first)
