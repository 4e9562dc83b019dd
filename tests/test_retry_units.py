"""Unit error codes (stored and read back) and retrying a job's failed units from the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration_pkg.core.config import AppConfig, DirectIntegrationConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import NotFoundError, ProbeError, StorageError, UrlError
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.s3.storage import S3Storage
from orchestration_pkg.core.registration import build_storage
from orchestration_pkg.core.retry_units import plan_retry, retry_job
from orchestration_pkg.core.unit_errors import CODES, classify
from tests.media import image_bytes

FAST = {"max_attempts": 2, "backoff_seconds": 0.01, "max_backoff_seconds": 0.02}


def _csv(tmp_path: Path, rows: list[str], header: str = "url,title,external_id") -> Path:
    path = tmp_path / "m.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _register(catalog, storage, path, folder="photos", **opts):
    engine = RegistrationEngine(catalog, storage)
    options = RegistrationOptions(**{"ignore_errors": True, **opts})
    return engine.register(read_manifest(path), folder, options, manifest_name=str(path))


def _codes(result) -> dict[int | None, tuple[str, bool]]:
    return {e.row: (e.code, e.transient) for e in result.unit_errors}


def test_codes_per_error_kind_are_stored_and_read_back(
    tmp_path, s3_bucket, s3_config_factory, catalog
):
    s3_bucket.put("raw/ok.png", image_bytes(5, 4, "PNG"), "image/png")
    s3_bucket.put("raw/garbage.jpg", b"not an image at all" * 10, "image/jpeg")
    storage = S3Storage(s3_config_factory(prefix="raw/"))
    b = s3_bucket.name
    path = _csv(
        tmp_path,
        [
            f"s3://{b}/raw/ok.png,ok,e1",  # row 2
            f"s3://{b}/raw/missing.png,gone,e2",  # row 3
            f"s3://{b}/raw/garbage.jpg,bad,e3",  # row 4
            ",no url,e4",  # row 5
            "s3://other-bucket/raw/x.png,elsewhere,e5",  # row 6
        ],
    )
    result = _register(catalog, storage, path)
    assert (result.registered, result.failed) == (1, 4)
    expected = {
        3: ("not_found", False),
        4: ("bad_media", False),
        5: ("malformed_row", False),
        6: ("bad_url", False),
    }
    assert _codes(result) == expected
    stored = catalog.get_job(result.job_id)
    assert _codes(stored) == expected
    units = {u.row: u for u in catalog.failed_units(result.job_id)}
    assert units[3].item == {
        "row": 3,
        "url": f"s3://{b}/raw/missing.png",
        "title": "gone",
        "external_id": "e2",
        "media_kind": "image",
    }
    assert units[5].item is None and units[6].item["url"] is None


def test_a_503_is_a_transient_server_error(
    request, tmp_path, s3_bucket, s3_config_factory, fault_proxy, catalog
):
    s3_bucket.put("ok.png", image_bytes(4, 3, "PNG"), "image/png")
    s3_bucket.put("bad.png", image_bytes(4, 3, "PNG"), "image/png")
    proxy = fault_proxy(s3_bucket.endpoint)
    storage = build_storage(s3_config_factory(endpoint_url=proxy.url, retry=FAST))
    proxy.fault = lambda method, path: "503" if "bad.png" in path else None
    b = s3_bucket.name
    path = _csv(tmp_path, [f"s3://{b}/ok.png,a,1", f"s3://{b}/bad.png,b,2"])
    result = _register(catalog, storage, path, fetch="head")
    assert result.registered == 1
    assert _codes(result) == {3: ("server_error", True)}
    assert _codes(catalog.get_job(result.job_id)) == {3: ("server_error", True)}
    # the fault clears: the retry registers it
    proxy.fault = lambda method, path: None
    config = AppConfig(catalog="sqlite://", integrations=[storage.config])
    retried = retry_job(
        config, plan_retry(catalog, result.job_id), catalog=catalog, storage=storage
    )
    assert (retried.status, retried.registered, retried.failed) == (JobStatus.DONE, 1, 0)
    assert retried.retry_of == result.job_id
    assert catalog.get_job(retried.job_id).retry_of == result.job_id
    assert {f.key for f in catalog.iter_files("photos")} == {"ok.png", "bad.png"}


def test_classify_maps_storage_codes_and_exception_types() -> None:
    assert classify(StorageError("x", code="NotFound")) == ("not_found", False)
    assert classify(StorageError("x", code="AccessDenied")) == ("forbidden", False)
    assert classify(StorageError("x", code="Auth")) == ("forbidden", False)
    assert classify(StorageError("x", code="Throttled", transient=True)) == ("throttled", True)
    assert classify(StorageError("x", code="ServerError", transient=True)) == (
        "server_error",
        True,
    )
    assert classify(StorageError("x", code="Network", transient=True)) == ("network", True)
    assert classify(
        StorageError("GET x: connection timed out (x)", code="Network", transient=True)
    ) == ("timeout", True)
    assert classify(StorageError("x", code="StrictClientOnly")) == ("strict_metadata", False)
    assert classify(StorageError("x", code="WhoKnows")) == ("unknown", False)
    assert classify(ProbeError("corrupt")) == ("bad_media", False)
    assert classify(UrlError("bad")) == ("bad_url", False)
    assert classify(KeyError("bug")) == ("internal", False)
    assert classify(ConnectionResetError(104, "reset")) == ("network", True)
    assert len(set(CODES)) == 14


def test_strict_client_only_rows_and_mismatches_have_their_codes(tmp_path, catalog):
    storage = build_storage(
        DirectIntegrationConfig(name="partners", provider="direct", strict_client_only=True)
    )
    rows = [
        {"objectUrl": "https://cdn.example.org/a.png?X-Amz-Signature=s3cr3t", "title": "a"},
        {
            "objectUrl": "https://cdn.example.org/b.png",
            "imageMetadata": {"width": 2, "height": 2, "mimeType": "image/png", "fileSize": 9},
        },
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"images": rows}), encoding="utf-8")
    result = _register(catalog, storage, path)
    assert result.registered == 1
    assert _codes(result) == {1: ("strict_metadata", False)}
    # a signed direct URL: its signature is never stored, so it cannot be retried
    (unit,) = catalog.failed_units(result.job_id)
    assert unit.item == {"row": 1, "url": None, "title": "a", "media_kind": "image"}
    assert "s3cr3t" not in unit.url + unit.error
    plan = plan_retry(catalog, result.job_id)
    assert plan.items == [] and "never stored" in plan.skipped[0].error


def test_retry_of_a_job_whose_manifest_is_gone(tmp_path, s3_bucket, s3_config_factory, catalog):
    s3_bucket.put("raw/a.png", image_bytes(6, 5, "PNG"), "image/png")
    storage = S3Storage(s3_config_factory(prefix="raw/"))
    b = s3_bucket.name
    path = tmp_path / "m.json"
    rows = [
        {"url": f"s3://{b}/raw/a.png", "title": "a"},
        {
            "url": f"{s3_bucket.endpoint}/{b}/raw/late%20one.png",
            "title": "late",
            "external_id": "L1",
            "client_metadata": {"cam": 2},
        },
        {"url": f"s3://{b}/raw/never.png", "title": "never"},
        {"title": "no url"},
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    first = _register(catalog, storage, path)
    assert (first.registered, first.failed) == (1, 3)
    path.unlink()  # the manifest is gone: the catalog holds what a retry needs
    s3_bucket.put("raw/late one.png", image_bytes(7, 3, "PNG"), "image/png")
    plan = plan_retry(catalog, first.job_id)
    assert [i.row for i in plan.items] == [2, 3]
    assert [(u.row, u.code) for u in plan.skipped] == [(4, "malformed_row")]
    config = AppConfig(catalog="sqlite://", integrations=[storage.config])
    again = retry_job(config, plan, ignore_errors=True, catalog=catalog, storage=storage)
    assert (again.status, again.total, again.registered, again.skipped) == (JobStatus.DONE, 3, 1, 1)
    assert _codes(again) == {3: ("not_found", False)}
    assert [w.row for w in again.warnings] == [4] and "not retried" in again.warnings[0].error
    files = {f.key: f for f in catalog.iter_files("photos")}
    late = files["raw/late one.png"]
    assert (late.title, late.external_id, late.client_metadata, late.width) == (
        "late",
        "L1",
        {"cam": 2},
        7,
    )
    stored = catalog.get_job(again.job_id)
    assert (stored.retry_of, stored.skipped, stored.total) == (first.job_id, 1, 3)
    # a retry of the retry still finds the remaining unit's row
    assert [i.row for i in plan_retry(catalog, again.job_id).items] == [3]


def test_plan_retry_of_an_unknown_job(catalog):
    with pytest.raises(NotFoundError):
        plan_retry(catalog, "f" * 32)
