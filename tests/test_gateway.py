"""The signed-URL gateway on a real uvicorn server, in front of moto: redirects that fetch
the object's bytes, auth (tokens, links), scopes, 404/410, traversal and encodings, CORS,
rate limit, the access log."""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog.sync_queries import mark_removed
from orchestration_pkg.core.config import load_config
from orchestration_pkg.core.errors import NotFoundError
from orchestration_pkg.core.gateway.links import LinkSigner
from orchestration_pkg.core.gateway.tokens import create_token, revoke_token
from orchestration_pkg.core.registration import register_manifest
from tests.cli_run import run_cli
from tests.fixtures.gateway_server import running_gateway
from tests.fixtures.moto_server import moto_client

KEY = "k" * 40
OLD_KEY = "o" * 40
OBJECTS = {
    "raw/a b.txt": b"space",
    "raw/a%20b.txt": b"literal percent-two-zero",
    "raw/c+d.txt": b"plus",
    "raw/é 東.txt": b"unicode",
    "secret.txt": b"top secret",
    "gone.txt": b"removed later",
}
PRIVATE = {"hidden.txt": b"private"}


def write_config(path: Path, db: Path, bucket: str, endpoint: str, extra: str = "") -> Path:
    path.write_text(
        f"catalog: sqlite:///{db}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {bucket}, endpoint_url: '{endpoint}',"
        " default: true, auth: {method: access_key, access_key_id: testing,"
        " secret_access_key: testing}}\n"
        "gateway:\n"
        "  ttl_s: 300\n"
        f"  signing_keys: ['{KEY}', '{OLD_KEY}']\n"
        "  cors_origins: ['https://label.example.org']\n"
        "  rate_limit: {requests_per_second: 1000, burst: 1000}\n" + extra,
        encoding="utf-8",
    )
    return path


def register(config_path: Path, bucket: str, folder: str, keys: list[str], tmp: Path) -> None:
    manifest = tmp / f"{folder}.json"
    manifest.write_text(json.dumps([{"url": f"s3://{bucket}/{k}"} for k in keys]))
    from orchestration_pkg.core.engine import RegistrationOptions

    result = register_manifest(
        load_config(config_path), str(manifest), folder, options=RegistrationOptions(fetch="head")
    )
    assert result.registered == len(keys), result.unit_errors


@pytest.fixture(scope="module")
def site(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("gateway")
    bucket = f"gw-{uuid.uuid4().hex[:8]}"
    s3 = moto_client(moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    for key, body in {**OBJECTS, **PRIVATE}.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    config_path = write_config(tmp / "cfg.yaml", tmp / "cat.db", bucket, moto_endpoint)
    register(config_path, bucket, "lake", list(OBJECTS), tmp)
    register(config_path, bucket, "private", list(PRIVATE), tmp)
    catalog = Catalog(f"sqlite:///{tmp / 'cat.db'}")
    gone = catalog.find_file("lake", "gone.txt")
    assert mark_removed(catalog, [gone.id]) == 1
    made = run_cli(config_path, "gateway", "token", "create", "labeler", "--folder", "lake")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("opgw_") and "shown once" in made.stderr
    with running_gateway(load_config(config_path), catalog) as base:
        yield {
            "base": base,
            "token": token,
            "config": config_path,
            "catalog": catalog,
            "endpoint": moto_endpoint,
        }
    catalog.dispose()


def url(site: dict[str, Any], key: str, folder: str = "lake") -> str:
    return f"{site['base']}/v1/folders/{quote(folder, safe='')}/files/{quote(key, safe='/~')}"


def bearer(site: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {site['token']}"}


def raw_get(site: dict[str, Any], raw_path: str, token: str | None = None) -> tuple[int, dict]:
    """GET with the request target sent byte for byte (httpx would normalise dot segments)."""
    parts = urlsplit(site["base"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request("GET", raw_path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, json.loads(body) if body else {}


@pytest.mark.parametrize("key", ["raw/a b.txt", "raw/a%20b.txt", "raw/c+d.txt", "raw/é 東.txt"])
def test_token_redirect_fetches_exactly_that_object(site: dict[str, Any], key: str) -> None:
    with httpx.Client(timeout=10) as client:
        first = client.get(url(site, key), headers=bearer(site))
        assert first.status_code == 302
        assert first.headers["cache-control"] == "no-store"
        location = first.headers["location"]
        assert location.startswith(f"{site['endpoint']}/")  # straight to the bucket
        assert "X-Amz-Expires=300" in location  # the gateway's short TTL, not 15 min
        followed = client.get(url(site, key), headers=bearer(site), follow_redirects=True)
    assert followed.status_code == 200 and followed.content == OBJECTS[key]


def test_head_redirects_without_body(site: dict[str, Any]) -> None:
    response = httpx.head(url(site, "raw/c+d.txt"), headers=bearer(site), timeout=10)
    assert response.status_code == 302 and response.content == b""
    assert "location" in response.headers


def test_encoded_plus_and_double_encoding_resolve_literally(site: dict[str, Any]) -> None:
    token = site["token"]
    assert raw_get(site, "/v1/folders/lake/files/raw/c%2Bd.txt", token)[0] == 302
    assert raw_get(site, "/v1/folders/lake/files/raw/c%20d.txt", token)[0] == 404  # + is no space
    assert raw_get(site, "/v1/folders/lake/files/raw/a%2520b.txt", token)[0] == 302
    with httpx.Client(timeout=10, follow_redirects=True) as client:
        literal = client.get(f"{site['base']}/v1/folders/lake/files/raw/a%2520b.txt",
                             headers=bearer(site))  # fmt: skip
    assert literal.content == OBJECTS["raw/a%20b.txt"]  # decoded once: the key with "%20"
    assert raw_get(site, "/v1/folders/lake/files/raw/a%252520b.txt", token)[0] == 404
    assert raw_get(site, "/v1/folders/lake/files/raw/%FF.txt", token)[0] == 404  # not UTF-8


@pytest.mark.parametrize(
    "raw_path",
    [
        "/v1/folders/lake/files/raw/../secret.txt",
        "/v1/folders/lake/files/raw/%2E%2E/secret.txt",
        "/v1/folders/lake/files/./secret.txt",
        "/v1/folders/lake/files//secret.txt",
        "/v1/folders/lake/files/raw/..%2Fsecret.txt",
    ],
)
def test_traversal_never_reaches_another_key(site: dict[str, Any], raw_path: str) -> None:
    status, body = raw_get(site, raw_path, site["token"])
    assert status == 404 and body["error"] == "not_found"


def test_traversal_into_another_folder_is_out_of_scope(site: dict[str, Any]) -> None:
    token = site["token"]
    for raw_path in (
        "/v1/folders/lake%2F..%2Fprivate/files/hidden.txt",
        "/v1/folders/../folders/private/files/hidden.txt",
        "/v1/folders/private/files/hidden.txt",
        "/v1/folders/lake/../private/files/hidden.txt",
    ):
        status, _ = raw_get(site, raw_path, token)
        assert status in (403, 404), raw_path
        assert status != 302


def test_wrong_scope_is_403_whether_or_not_the_file_exists(site: dict[str, Any]) -> None:
    bodies = []
    for folder, key in (("private", "hidden.txt"), ("private", "nope.txt"), ("nofolder", "x")):
        response = httpx.get(url(site, key, folder), headers=bearer(site), timeout=10)
        assert response.status_code == 403
        bodies.append(response.json())
    assert (
        bodies[0]
        == bodies[1]
        == bodies[2]
        == {
            "error": "forbidden",
            "message": "this token may not read this folder",
        }
    )


def test_unknown_and_removed_files(site: dict[str, Any]) -> None:
    missing = httpx.get(url(site, "raw/nope.txt"), headers=bearer(site), timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    gone = httpx.get(url(site, "gone.txt"), headers=bearer(site), timeout=10)
    assert gone.status_code == 410 and gone.json()["error"] == "gone"


def test_no_or_bad_credentials_are_401_json(site: dict[str, Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer opgw_not-a-token"}, {"Authorization": "Basic x"}):
        response = httpx.get(url(site, "raw/c+d.txt"), headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"] in ("unauthorized", "invalid_token")


def test_links_from_export_expiry_tamper_and_rotation(site: dict[str, Any]) -> None:
    signer = LinkSigner(site["base"], KEY.encode())
    later = int(time.time()) + 600
    with httpx.Client(timeout=10) as client:
        good = client.get(signer.link("lake", "raw/é 東.txt", later), follow_redirects=True)
        assert good.status_code == 200 and good.content == OBJECTS["raw/é 東.txt"]
        old = LinkSigner(site["base"], OLD_KEY.encode()).link("lake", "raw/c+d.txt", later)
        assert client.get(old).status_code == 302  # a key still listed verifies
        expired = client.get(signer.link("lake", "raw/c+d.txt", int(time.time()) - 1))
        assert expired.status_code == 401 and expired.json()["message"] == "link expired"
        other_folder = signer.link("lake", "hidden.txt", later).replace("/lake/", "/private/")
        assert client.get(other_folder).json()["message"] == "bad signature"
        retired = LinkSigner(site["base"], b"r" * 40).link("lake", "raw/c+d.txt", later)
        assert client.get(retired).json()["message"] == "unknown or retired signing key"
        partial = signer.link("lake", "raw/c+d.txt", later).split("&sig=")[0]
        assert client.get(partial).status_code == 401


def test_export_gateway_links_resolve(site: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "ango.json"
    done = run_cli(site["config"], "export", "lake", "--format", "ango", "--urls", "gateway",
               "--gateway-url", site["base"], "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    items = json.loads(out.read_text())
    assert len(items) == len(OBJECTS) - 1  # the removed file is not exported
    with httpx.Client(timeout=10, follow_redirects=True) as client:
        for item in items:
            key = next(k for k in OBJECTS if item["externalId"] == k)
            assert client.get(item["data"]).content == OBJECTS[key]


def test_revoked_token_is_refused_at_once(site: dict[str, Any]) -> None:
    token, _ = create_token(site["catalog"], "temp", ["lake", "private"])
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(url(site, "hidden.txt", "private"), headers=headers).status_code == 302
    listed = json.loads(run_cli(site["config"], "gateway", "token", "list", "--json").stdout)
    assert {t["name"]: t["folders"] for t in listed}["temp"] == ["lake", "private"]
    assert all(token not in json.dumps(t) for t in listed)
    revoked = run_cli(site["config"], "gateway", "token", "revoke", "temp")
    assert revoked.returncode == 0 and revoked.stderr.strip() == "token 'temp' revoked"
    assert httpx.get(url(site, "hidden.txt", "private"), headers=headers).status_code == 401
    with pytest.raises(NotFoundError, match="no token named 'temp'"):
        revoke_token(site["catalog"], "temp")


def test_cors_healthz_and_json_errors(site: dict[str, Any]) -> None:
    with httpx.Client(timeout=10) as client:
        allowed = client.options(
            url(site, "raw/c+d.txt"),
            headers={
                "Origin": "https://label.example.org",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://label.example.org"
        simple = client.get(
            url(site, "raw/c+d.txt"),
            headers={**bearer(site), "Origin": "https://label.example.org"},
        )
        assert simple.headers["access-control-allow-origin"] == "https://label.example.org"
        other = client.get(
            url(site, "raw/c+d.txt"), headers={**bearer(site), "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        assert client.get(f"{site['base']}/healthz").json() == {"status": "ok"}
        posted = client.post(url(site, "raw/c+d.txt"), headers=bearer(site))
        assert posted.status_code == 405 and posted.json()["error"] == "method_not_allowed"
        elsewhere = client.get(f"{site['base']}/nothing/here")
        assert elsewhere.status_code == 404 and elsewhere.json()["error"] == "not_found"


def test_access_log_names_the_token_but_holds_no_secret(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    link = LinkSigner(site["base"], KEY.encode()).link("lake", "raw/c+d.txt", int(time.time()) + 60)
    with caplog.at_level(logging.INFO, logger="orchestration_pkg.gateway.access"):
        location = httpx.get(url(site, "raw/c+d.txt"), headers=bearer(site)).headers["location"]
        httpx.get(link)
        httpx.get(url(site, "raw/c+d.txt"), headers={"Authorization": "Bearer opgw_wrong"})
    lines = [r.getMessage() for r in caplog.records if r.name.endswith(".access")]
    assert len(lines) == 3
    assert lines[0].endswith(" labeler") and " 302 " in lines[0]
    assert lines[1].endswith(" link") and "/raw/c%2Bd.txt" in lines[1]  # the path as sent
    assert lines[2].endswith(" -") and " 401 " in lines[2]
    text = "\n".join(lines)
    for secret in (site["token"], "sig=", "X-Amz-Signature", location, "opgw_wrong", KEY):
        assert secret not in text


def test_rate_limit_per_token(site: dict[str, Any], tmp_path: Path) -> None:
    config = load_config(site["config"]).model_copy(deep=True)
    config.gateway.rate_limit.requests_per_second = 0.5
    config.gateway.rate_limit.burst = 2
    with running_gateway(config, site["catalog"]) as base:
        target = f"{base}/v1/folders/lake/files/secret.txt"
        statuses = [httpx.get(target, headers=bearer(site)).status_code for _ in range(3)]
        assert statuses == [302, 302, 429]
        limited = httpx.get(target, headers=bearer(site))
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"] == "rate_limited"


def test_serve_access_log_writes_buffered_lines_without_secrets(site: dict[str, Any]) -> None:
    """``serve``'s access-log set-up: lines handed to its buffered handler as text (no
    LogRecord), timestamped, flushed on close; never the token."""
    from orchestration_pkg.server import app as app_module
    from orchestration_pkg.server.run import ACCESS_LOGGER, access_log_handler

    saved = (logging._srcfile, logging.logThreads, logging.logProcesses)
    access = logging.getLogger(ACCESS_LOGGER)
    level, propagate = access.level, access.propagate
    stream = io.StringIO()
    stream.close = lambda: None  # type: ignore[method-assign]  # read it after close()
    handler = access_log_handler("info", stream)
    try:
        assert app_module.access_sink is not None
        httpx.get(url(site, "raw/c+d.txt"), headers=bearer(site), timeout=10)
    finally:
        app_module.access_sink = None
        access.removeHandler(handler)
        handler.close()
        access.setLevel(level)
        access.propagate = propagate
        logging._srcfile, logging.logThreads, logging.logProcesses = saved
    line = stream.getvalue()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} 127\.0\.0\.1 "
        r'"GET /v1/folders/lake/files/raw/c%2Bd\.txt" 302 \d+\.\dms labeler\n',
        line,
    ), line
    assert site["token"] not in line
