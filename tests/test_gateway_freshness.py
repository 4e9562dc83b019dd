"""The gateway's lookup cache is never staler than the catalog, on SQLite and PostgreSQL: with
the server running (and its cache warm), another process revokes a token, marks a file
removed, adds a file, and the very next request sees each change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import load_config
from orchestration_pkg.server.app import create_app
from tests.cli_run import run_cli
from tests.fixtures.gateway_server import running_app


def _config(tmp: Path, catalog_url: str, bucket: Any) -> Path:
    path = tmp / "cfg.yaml"
    path.write_text(
        f"catalog: {catalog_url}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {bucket.name}, endpoint_url: "
        f"'{bucket.endpoint}', auth: {{method: access_key, access_key_id: testing,"
        " secret_access_key: testing}}\n"
        "gateway: {rate_limit: {requests_per_second: 1000, burst: 1000}}\n",
        encoding="utf-8",
    )
    return path


def _cli(config: Path, *args: str) -> str:
    done = run_cli(config, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _status(base: str, token: str, key: str) -> int:
    path = f"{base}/v1/folders/lake/files/{quote(key, safe='/~')}"
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(path, headers=headers, timeout=10).status_code


def test_changes_by_another_process_are_seen_by_the_next_request(
    catalog_url: str, s3_bucket: Any, tmp_path: Path
) -> None:
    for key in ("a b.txt", "gone é.txt"):
        s3_bucket.put(key, b"x")
    config = _config(tmp_path, catalog_url, s3_bucket)
    sync = ("sync", "acme", "--folder", "lake", "--prefix", "", "--json")
    assert json.loads(_cli(config, *sync))["added"] == 2
    keep = _cli(config, "gateway", "token", "create", "keep", "--folder", "lake").strip()
    temp = _cli(config, "gateway", "token", "create", "temp", "--folder", "lake").strip()
    catalog = Catalog(catalog_url)
    app = create_app(load_config(config), catalog)
    lookup = app.gateway.resolver.lookup
    try:
        with running_app(app) as base:
            for _ in range(2):  # the second round is answered from the cache
                assert _status(base, temp, "a b.txt") == 302
                assert _status(base, keep, "gone é.txt") == 302
                assert _status(base, keep, "new.txt") == 404
            if lookup.listener is not None:  # PostgreSQL: the cache is on and holds them
                assert lookup.listener.live and len(lookup._shared.files) == 3

            _cli(config, "gateway", "token", "revoke", "temp")
            assert _status(base, temp, "a b.txt") == 401
            assert _status(base, keep, "a b.txt") == 302

            s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="gone é.txt")
            s3_bucket.put("new.txt", b"new")
            done = json.loads(_cli(config, *sync))
            assert (done["added"], done["removed"]) == (1, 1)
            assert _status(base, keep, "gone é.txt") == 410
            assert _status(base, keep, "new.txt") == 302  # a cached 404 does not outlive it
    finally:
        catalog.dispose()
