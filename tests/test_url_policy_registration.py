"""The network policy applies when a URL is registered, whatever the fetch mode.

``--fetch none`` and strict client-only integrations fetch nothing, yet what they register is
handed on later (gateway, exports): URLs naming loopback, link-local (cloud metadata), private
or otherwise refused addresses are refused at registration unless ``allow_hosts`` allows them.
Only URLs are used: no DNS lookup, no connection.
"""

from __future__ import annotations

import json

import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import DirectIntegrationConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.registration import build_storage

REFUSED = [
    "http://169.254.169.254/latest/meta-data/x.jpg",
    "http://[::ffff:169.254.169.254]/x.jpg",
    "http://0251.0376.0251.0376/x.jpg",  # 169.254.169.254, octal
    "http://127.0.0.1:9/x.jpg",
    "http://2130706433/x.jpg",  # 127.0.0.1 as one number
    "http://127.1/x.jpg",
    "http://localhost/x.jpg",
    "http://10.0.0.5/x.jpg",
    "http://192.168.1.1/x.jpg",
    "http://[fd00::1]/x.jpg",
    "http://0.0.0.0/x.jpg",
]
ACCEPTED = ["https://cdn.partner.example/ok.jpg", "https://93.184.216.34/public.jpg"]
META = {"width": 4, "height": 3, "mimeType": "image/jpeg", "fileSize": 100}


def _register(tmp_path, *, strict: bool, allow: list[str] | None = None):
    config = DirectIntegrationConfig(
        name="partners", provider="direct", strict_client_only=strict, allow_hosts=allow or []
    )
    path = tmp_path / "m.json"
    rows = [{"objectUrl": u, "imageMetadata": META} for u in REFUSED + ACCEPTED]
    path.write_text(json.dumps({"images": rows}), encoding="utf-8")
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        options = RegistrationOptions(ignore_errors=True, fetch="none")
        result = RegistrationEngine(catalog, build_storage(config)).register(
            read_manifest(path), "lake", options
        )
        stored = sorted(f.object_url for f in catalog.iter_files("lake"))
    finally:
        catalog.dispose()
    return result, stored


@pytest.mark.parametrize("strict", [True, False], ids=["strict-client-only", "fetch-none"])
def test_refused_addresses_never_enter_the_catalog(tmp_path, socket_connects, strict):
    result, stored = _register(tmp_path, strict=strict)
    assert result.status is JobStatus.DONE
    assert stored == sorted(ACCEPTED)
    refused = {u.url: u for u in result.unit_errors}
    assert set(refused) == set(REFUSED)
    assert {u.code for u in refused.values()} == {"forbidden"}
    assert "allow_hosts" in refused["http://10.0.0.5/x.jpg"].error
    assert socket_connects == []  # decided from the URLs alone


def test_allow_hosts_still_opens_a_range(tmp_path, socket_connects):
    result, stored = _register(tmp_path, strict=True, allow=["10.0.0.0/8", "localhost"])
    assert "http://10.0.0.5/x.jpg" in stored and "http://localhost/x.jpg" in stored
    assert "http://169.254.169.254/latest/meta-data/x.jpg" not in stored
    assert result.failed == len(REFUSED) - 2
    assert socket_connects == []


@pytest.mark.parametrize(
    ("config", "urls"),
    [
        (
            {"provider": "s3", "bucket": "bkt", "prefix": "data/"},
            ["s3://bkt/data/../x.jpg", "https://bkt.s3.amazonaws.com/data/%2E%2E/x.jpg"],
        ),
        (
            {
                "provider": "gcs",
                "bucket": "bkt",
                "prefix": "data/",
                "auth": {"method": "anonymous"},
            },
            ["gs://bkt/data/../x.jpg", "https://storage.googleapis.com/bkt/data/./x.jpg"],
        ),
        (
            {
                "provider": "azure",
                "account_url": "https://acct.blob.core.windows.net",
                "container": "box",
                "prefix": "data/",
                "auth": {"method": "account_key", "account_key": "eHh4"},
            },
            ["https://acct.blob.core.windows.net/box/data/../x.jpg"],
        ),
        (
            {"provider": "direct", "url_prefixes": ["https://cdn.example/public/"]},
            ["https://cdn.example/public/../private/x.jpg", "https://cdn.example/public/%2e%2e/x"],
        ),
    ],
)
def test_dot_segments_never_leave_a_prefix(config, urls):
    """``prefix/../other`` is resolved by browsers, proxies and some servers: refused."""
    from orchestration_pkg.core.config import parse_config
    from orchestration_pkg.core.errors import UrlError

    storage = build_storage(parse_config({"integrations": [{"name": "i", **config}]}).integration())
    for url in urls:
        with pytest.raises(UrlError, match="'.' or '..' path segment"):
            storage.parse_url(url)
