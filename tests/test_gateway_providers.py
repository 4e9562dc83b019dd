"""The gateway's redirects on Azure (Azurite checks SAS signatures and expiry) and GCS (the
emulator serves V4-signed URLs): the client follows the 302 and gets the object's bytes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import (
    AppConfig,
    GCSAnonymousAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.gateway.config import GatewayConfig
from orchestration_pkg.core.gateway.tokens import create_token
from orchestration_pkg.core.registration import build_storage, register_manifest
from tests.fixtures.gateway_server import running_gateway


def _register(config: AppConfig, storage: Any, keys: list[str], tmp: Path) -> Catalog:
    manifest = tmp / "m.json"
    manifest.write_text(json.dumps([{"url": storage.canonical_url(k)} for k in keys]))
    catalog = Catalog(config.catalog)
    result = register_manifest(
        config,
        str(manifest),
        "scans",
        options=RegistrationOptions(fetch="head"),
        catalog=catalog,
        storage=storage,
    )
    assert result.registered == len(keys), result.unit_errors
    return catalog


def _get(base: str, token: str, key: str, **kwargs: Any) -> httpx.Response:
    path = f"{base}/v1/folders/scans/files/{quote(key, safe='/~')}"
    return httpx.get(path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)


def test_azure_redirect_is_a_valid_short_sas(
    azure_container: Any, azure_config_factory: Any, tmp_path: Path
) -> None:
    key = "scans/a b+é.png"
    azure_container.put(key, b"azure bytes", "image/png")
    integration = azure_config_factory()
    config = AppConfig(
        catalog=f"sqlite:///{tmp_path / 'cat.db'}",
        integrations=[integration],
        gateway=GatewayConfig(ttl_s=120),
    )
    catalog = _register(config, build_storage(integration), [key], tmp_path)
    token, _ = create_token(catalog, "reader", ["scans"])
    try:
        with running_gateway(config, catalog) as base:
            first = _get(base, token, key)
            assert first.status_code == 302
            location = first.headers["location"]
            expiry = datetime.fromisoformat(parse_qs(urlsplit(location).query)["se"][0])
            left = expiry - datetime.now(timezone.utc)
            assert timedelta(seconds=60) < left <= timedelta(seconds=121)  # ttl_s, not 15 min
            assert httpx.get(location, timeout=10).content == b"azure bytes"  # SAS verified
            forged = location.replace("sig=", "sig=A")
            assert httpx.get(forged, timeout=10).status_code == 403  # Azurite checks it
            assert _get(base, token, key, follow_redirects=True).content == b"azure bytes"
    finally:
        catalog.dispose()


def test_gcs_redirect_fetches_the_object(
    gcs_bucket: Any, gcs_service_account_file: Path, tmp_path: Path
) -> None:
    key = "scans/ü 1+2.txt"
    gcs_bucket.put(key, b"gcs bytes", "text/plain")
    common: dict[str, Any] = {"provider": "gcs", "name": "acme", "bucket": gcs_bucket.name}
    common["endpoint_url"] = gcs_bucket.endpoint
    signer = GCSIntegrationConfig(
        auth=GCSServiceAccountAuth(
            method="service_account", key_file=str(gcs_service_account_file)
        ),
        **common,
    )
    reader = GCSIntegrationConfig(auth=GCSAnonymousAuth(method="anonymous"), **common)
    config = AppConfig(catalog=f"sqlite:///{tmp_path / 'cat.db'}", integrations=[signer])
    catalog = _register(config, build_storage(reader), [key], tmp_path)
    token, _ = create_token(catalog, "reader", ["scans"])
    try:
        with running_gateway(config, catalog) as base:
            first = _get(base, token, key)
            assert first.status_code == 302
            query = parse_qs(urlsplit(first.headers["location"]).query)
            assert query["X-Goog-Expires"] == ["300"] and "X-Goog-Signature" in query
            assert _get(base, token, key, follow_redirects=True).content == b"gcs bytes"
    finally:
        catalog.dispose()
