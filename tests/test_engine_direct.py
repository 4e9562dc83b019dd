"""The engine with direct-access integrations: pre-signed URLs, SSRF refusal, strict mode."""

from __future__ import annotations

import json
import logging

import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import DirectIntegrationConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.direct.storage import DirectStorage
from tests.media import image_bytes

SIG = "deadbeefSIGNATURE0123"
QUERY = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature={SIG}"


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    yield cat
    cat.dispose()


def _direct(**kw) -> DirectStorage:
    return DirectStorage(DirectIntegrationConfig(name="partners", provider="direct", **kw))


def _register(catalog, storage, tmp_path, items, **opts):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"images": items}), encoding="utf-8")
    engine = RegistrationEngine(catalog, storage)
    return engine.register(read_manifest(path), "partner", RegistrationOptions(**opts))


def test_presigned_urls_pass_through_untouched_and_are_stored_without_query(
    tmp_path, http_files, catalog, caplog
):
    caplog.set_level(logging.DEBUG)
    http_files.add("/img/a%20b.png", image_bytes(31, 17, "PNG"), "image/png", require_sig=SIG)
    url = http_files.url("/img/a%20b.png", QUERY)
    storage = _direct(allow_hosts=["127.0.0.1"])
    result = _register(catalog, storage, tmp_path, [{"objectUrl": url}])
    assert result.status is JobStatus.DONE, result.unit_errors
    assert QUERY in http_files.queries()  # byte-for-byte
    rec = next(catalog.iter_files("partner"))
    assert (rec.width, rec.height) == (31, 17)
    assert rec.object_url == http_files.url("/img/a%20b.png") and rec.key == rec.object_url
    everything = result.model_dump_json() + json.dumps(rec.__dict__, default=str)
    assert SIG not in everything and SIG not in caplog.text


def test_loopback_is_refused_by_default_before_any_request(tmp_path, http_files, catalog):
    http_files.add("/x.png", image_bytes(5, 5, "PNG"), "image/png")
    items = [
        {"objectUrl": http_files.url("/x.png")},
        {"objectUrl": "http://169.254.169.254/latest/meta-data/x.png"},
        {"objectUrl": "http://10.0.0.1/x.png"},
    ]
    result = _register(catalog, _direct(), tmp_path, items, ignore_errors=True)
    assert result.failed == 3 and result.registered == 0
    assert all("refused" in e.error for e in result.unit_errors)
    assert http_files.requests == []


def test_strict_client_only_never_fetches_and_requires_metadata(tmp_path, http_files, catalog):
    meta = {"width": 640, "height": 480, "mimeType": "image/jpeg", "fileSize": 1234}
    items = [
        {"objectUrl": http_files.url("/a.jpg", QUERY), "imageMetadata": meta},
        {"objectUrl": http_files.url("/b.jpg"), "imageMetadata": {"width": 10}},
        {"objectUrl": http_files.url("/c.jpg")},
    ]
    storage = _direct(strict_client_only=True, allow_hosts=["127.0.0.1"])
    result = _register(catalog, storage, tmp_path, items, ignore_errors=True)
    assert http_files.requests == []
    assert result.registered == 1 and result.failed == 2 and result.requests == 0
    errors = {e.row: e.error for e in result.unit_errors}
    assert "imageMetadata" in errors[2] and "height" in errors[2] and "fileSize" in errors[2]
    assert "width" not in errors[2].split("with", 1)[1]
    assert "imageMetadata" in errors[3]
    rec = next(catalog.iter_files("partner"))
    assert (rec.width, rec.height, rec.size, rec.content_type) == (640, 480, 1234, "image/jpeg")
    assert SIG not in rec.object_url
