"""The engine on Azure Blob (Azurite enforces SAS): registration, SAS rotation, expiry."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import AzureSasAuth
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.azure.storage import AzureStorage
from tests.media import image_bytes

BLOBS = {"scans/a b.png": (20, 10), "scans/é/ü.jpg": (7, 9)}


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    yield cat
    cat.dispose()


@pytest.fixture
def container(azure_container):
    for blob, (w, h) in BLOBS.items():
        fmt = "PNG" if blob.endswith("png") else "JPEG"
        azure_container.put(blob, image_bytes(w, h, fmt), f"image/{fmt.lower()}")
    return azure_container


def _manifest(tmp_path, container, extra=()):
    urls = [f"{container.account_url}/{container.name}/{quote(b)}" for b in BLOBS]
    path = tmp_path / "m.json"
    items = [{"objectUrl": u} for u in [*urls, *extra]]
    path.write_text(json.dumps({"images": items}), encoding="utf-8")
    return path


def _register(catalog, storage, path, **opts):
    engine = RegistrationEngine(catalog, storage)
    return engine.register(read_manifest(path), "scans", RegistrationOptions(**opts))


def test_sas_registration_and_rotation_keep_files_valid(
    tmp_path, container, azure_config_factory, catalog, caplog
):
    caplog.set_level(logging.DEBUG)
    token_a = container.sas("rl")
    storage = AzureStorage(
        azure_config_factory(auth=AzureSasAuth(method="sas", sas_token=token_a), prefix="scans/")
    )
    first = _register(catalog, storage, _manifest(tmp_path, container))
    assert first.status is JobStatus.DONE and first.registered == 2, first.unit_errors
    files = {f.key: f for f in catalog.iter_files("scans")}
    assert {k: (f.width, f.height) for k, f in files.items()} == BLOBS
    urls_before = {f.object_url for f in files.values()}
    assert all("sig=" not in u for u in urls_before)

    token_b = container.sas("rl", expiry=datetime.now(timezone.utc) + timedelta(days=3))
    assert token_b != token_a
    storage.rotate_sas(token_b)
    again = _register(catalog, storage, _manifest(tmp_path, container))
    assert (again.unchanged, again.failed) == (2, 0)
    assert {f.object_url for f in catalog.iter_files("scans")} == urls_before
    signed = storage.sign("scans/a b.png", 900)
    assert "sig=" in signed
    for secret in (token_a, token_b):
        sig = dict(p.split("=", 1) for p in secret.split("&"))["sig"]
        assert sig not in caplog.text and sig not in first.model_dump_json()


def test_expired_sas_names_the_date_in_every_unit_error(
    tmp_path, container, azure_config_factory, catalog
):
    expired_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    token = container.sas("rl", expiry=expired_at, start=expired_at - timedelta(days=1))
    storage = AzureStorage(azure_config_factory(auth=AzureSasAuth(method="sas", sas_token=token)))
    result = _register(catalog, storage, _manifest(tmp_path, container), ignore_errors=True)
    assert result.registered == 0 and result.failed == 2
    assert all("2025-01-02" in e.error and "expired" in e.error for e in result.unit_errors)


def test_missing_blob_and_foreign_container_are_unit_errors(
    tmp_path, container, azure_config_factory, catalog
):
    storage = AzureStorage(azure_config_factory(auth="account_key", prefix="scans/"))
    extra = [
        f"{container.account_url}/{container.name}/scans/missing.png",
        f"{container.account_url}/other-container/scans/x.png",
    ]
    result = _register(catalog, storage, _manifest(tmp_path, container, extra), ignore_errors=True)
    assert result.registered == 2 and result.failed == 2
    errors = {e.row: e.error for e in result.unit_errors}
    assert "NotFound" in errors[3]
    assert "other-container" in errors[4]
