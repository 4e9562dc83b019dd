"""One retry policy on every provider: requests counted behind a fault-injecting proxy.

Before this policy the SDKs' own retries sat under the engine's loop (S3: 6 requests per HEAD
times 4 engine attempts); now one object costs at most ``max_attempts`` requests per call on
S3, GCS, Azure and direct URLs alike, and never outlives its deadline.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import DirectIntegrationConfig, RetryConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.registration import build_storage
from orchestration_pkg.core.retry import RetryPolicy, deadline
from tests.media import image_bytes

PROVIDERS = ["s3", "gcs", "azure", "direct"]
FAST = {"max_attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.02}


def _storage(provider: str, request: pytest.FixtureRequest, make_proxy: Any, retry: dict) -> Any:
    """A storage of ``provider`` whose requests all pass through a fault proxy; 'ok.png' and
    'bad.png' exist behind it. Returns (storage, proxy, key-or-url of bad.png)."""
    png = image_bytes(4, 3, "PNG")
    if provider == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        proxy = make_proxy(bucket.endpoint)
        make = request.getfixturevalue("s3_config_factory")
        cfg = make(endpoint_url=proxy.url, retry=retry)
    elif provider == "gcs":
        bucket = request.getfixturevalue("gcs_bucket")
        proxy = make_proxy(bucket.endpoint)
        cfg = request.getfixturevalue("gcs_config_factory")(endpoint_url=proxy.url, retry=retry)
    elif provider == "azure":
        bucket = request.getfixturevalue("azure_container")
        proxy = make_proxy(bucket.account_url)
        account = bucket.account_url.rsplit("/", 1)[1]
        make = request.getfixturevalue("azure_config_factory")
        cfg = make(account_url=f"{proxy.url}/{account}", retry=retry)
    else:
        files = request.getfixturevalue("http_files")
        for name in ("ok.png", "bad.png"):
            files.add(f"/{name}", png, "image/png")
        proxy = make_proxy(files.url("/"))
        cfg = DirectIntegrationConfig(
            name="partners", provider="direct", allow_hosts=["127.0.0.1"], retry=retry
        )
        storage = build_storage(cfg)
        return storage, proxy, lambda name: f"{proxy.url}/{name}"
    for name in ("ok.png", "bad.png"):
        bucket.put(name, png, "image/png")
    storage = build_storage(cfg)
    return storage, proxy, lambda name: name


def _key(storage: Any, ref: str) -> str:
    return storage.parse_url(ref) if "://" in ref else ref


@pytest.mark.parametrize("provider", PROVIDERS)
def test_one_head_costs_exactly_max_attempts_requests_under_503s(provider, request, fault_proxy):
    storage, proxy, ref = _storage(provider, request, fault_proxy, FAST)
    assert storage.head(_key(storage, ref("ok.png"))).size > 0
    proxy.reset()
    proxy.fault = lambda method, path: "503" if "bad.png" in path else None
    with pytest.raises(StorageError) as err:
        storage.head(_key(storage, ref("bad.png")))
    assert err.value.transient
    assert proxy.count(contains="bad.png") == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_fault_that_clears_is_retried_and_succeeds(provider, request, fault_proxy):
    storage, proxy, ref = _storage(provider, request, fault_proxy, FAST)
    key = _key(storage, ref("bad.png"))
    proxy.reset()
    seen: list[str] = []

    def first_two_fail(method: str, path: str) -> str | None:
        if "bad.png" not in path:
            return None
        seen.append(path)
        return "503" if len(seen) <= 2 else None

    proxy.fault = first_two_fail
    read = storage.read_range(key, 0, 8)
    assert read.data == image_bytes(4, 3, "PNG")[:8]
    assert proxy.count(contains="bad.png") == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_engine_registers_the_rest_and_counts_the_bad_object_once(
    provider, request, fault_proxy, tmp_path
):
    storage, proxy, ref = _storage(provider, request, fault_proxy, FAST)
    if provider == "direct":
        urls = {name: ref(f"{name}.png") for name in ("ok", "bad")}
    else:
        urls = {name: storage.canonical_url(f"{name}.png") for name in ("ok", "bad")}
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"images": [{"objectUrl": u} for u in urls.values()]}))
    proxy.reset()
    proxy.fault = lambda method, path: "503" if "bad.png" in path else None
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        engine = RegistrationEngine(catalog, storage)
        result = engine.register(
            read_manifest(manifest), "lake", RegistrationOptions(ignore_errors=True)
        )
    finally:
        catalog.dispose()
    assert result.status is JobStatus.DONE
    assert (result.created, result.failed) == (1, 1)
    assert "ServerError" in result.unit_errors[0].error or "503" in result.unit_errors[0].error
    # One probe of one object: no stacking of SDK retries under an engine loop.
    assert proxy.count(contains="bad.png") == 3


def test_deadline_stops_new_attempts_and_cuts_backoff():
    calls: list[float] = []
    policy = RetryPolicy(max_attempts=10, backoff_seconds=1.0, max_backoff_seconds=4.0)

    def always_busy() -> None:
        calls.append(time.monotonic())
        raise StorageError("busy", code="Throttled", transient=True)

    start = time.monotonic()
    with deadline(1.2), pytest.raises(StorageError):
        policy.call(always_busy)
    # attempt 1, sleep 0.5–1.0 s, attempt 2, next sleep ≥ 1 s would pass the deadline: stop.
    assert len(calls) == 2
    assert time.monotonic() - start < 1.2


def test_permanent_errors_are_not_retried():
    calls: list[int] = []

    def missing() -> None:
        calls.append(1)
        raise StorageError("nope", code="NotFound", transient=False)

    with pytest.raises(StorageError):
        RetryPolicy(max_attempts=5).call(missing)
    assert len(calls) == 1


def test_retry_is_configured_once_and_inherited_by_every_integration():
    from orchestration_pkg.core.config import parse_config

    cfg = parse_config(
        {
            "retry": {"max_attempts": 2, "object_deadline_seconds": 30},
            "integrations": [
                {"name": "a", "provider": "direct"},
                {"name": "b", "provider": "direct", "retry": {"max_attempts": 6}},
            ],
        }
    )
    a, b = cfg.integration("a"), cfg.integration("b")
    assert (a.retry.max_attempts, a.retry.object_deadline_seconds) == (2, 30)
    assert b.retry.max_attempts == 6
    assert isinstance(a.retry, RetryConfig)
    assert build_storage(a).retry_policy == RetryPolicy(max_attempts=2, object_deadline_seconds=30)
