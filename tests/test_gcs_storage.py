"""GCSStorage and GCSIntegrationResource against gcp-storage-emulator on 127.0.0.1."""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage.exceptions import DataCorruption
from google.cloud.storage.retry import DEFAULT_RETRY
from requests.structures import CaseInsensitiveDict

from orchestration_pkg.core.config import (
    GCSAnonymousAuth,
    GCSDefaultAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.errors import ConfigError, StorageError, UrlError
from orchestration_pkg.core.providers.gcs import storage as gcsmod
from orchestration_pkg.core.providers.gcs.access import P_GET, P_HEAD, P_LIST
from orchestration_pkg.core.providers.gcs.downloads import RangeBlob, range_result
from orchestration_pkg.core.providers.gcs.errors import to_storage_error
from orchestration_pkg.core.providers.gcs.storage import GCSStorage
from orchestration_pkg.core.providers.gcs.urls import parse_gcs_url
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.resources.gcs import GCSIntegrationResource

# Until tests/conftest.py lists the plugin (then this line is a no-op).

SA_EMAIL = "catalog-reader@test-project.iam.gserviceaccount.com"  # the fixture's key file
MEMBER = f"serviceAccount:{SA_EMAIL}"


@pytest.fixture
def storage(gcs_config_factory: Any) -> GCSStorage:
    return GCSStorage(gcs_config_factory(prefix="raw/"))


@pytest.fixture
def sa_auth(gcs_service_account_file: Path) -> GCSServiceAccountAuth:
    """Service-account auth whose token endpoint is closed: fine for signing, not for calls."""
    return GCSServiceAccountAuth(method="service_account", key_file=str(gcs_service_account_file))


@pytest.fixture
def live_sa_auth(gcs_service_account_factory: Any, gcs_token_uri: str) -> GCSServiceAccountAuth:
    """Service-account auth with a fake token endpoint: every call and signing works."""
    path = gcs_service_account_factory(token_uri=gcs_token_uri, name="live.json")
    return GCSServiceAccountAuth(method="service_account", key_file=str(path))


@pytest.fixture
def short_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcsmod, "RETRY", DEFAULT_RETRY.with_timeout(0.3))


def _record(store: GCSStorage) -> list[requests.PreparedRequest]:
    """Every request the storage's HTTP session sends from now on."""
    sent: list[requests.PreparedRequest] = []
    store.client._http.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    return sent


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _fetch(url: str) -> bytes:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _offline_storage(
    auth: Any, bucket: str = "y-bucket", prefix: str = "raw/", **kw: Any
) -> GCSStorage:
    """A storage on storage.googleapis.com (or ``endpoint_url``) for tests that stay offline."""
    return GCSStorage(
        GCSIntegrationConfig(
            provider="gcs", name="acme", bucket=bucket, prefix=prefix, auth=auth, **kw
        )
    )


# -- basics -------------------------------------------------------------------------------------


def test_is_a_storage_with_attributes(storage: GCSStorage, gcs_bucket: Any) -> None:
    assert isinstance(storage, Storage)
    assert (storage.name, storage.provider, storage.bucket, storage.prefix) == (
        "acme",
        "gcs",
        gcs_bucket.name,
        "raw/",
    )
    assert storage.canonical_url("raw/a b.jpg") == f"gs://{gcs_bucket.name}/raw/a b.jpg"
    assert storage.record_key("raw/a b.jpg") == "raw/a b.jpg"
    assert storage.client is storage.client
    assert storage.client.api_endpoint == gcs_bucket.endpoint
    assert isinstance(storage.credentials, AnonymousCredentials)
    adapter = storage.client._http.get_adapter("http://127.0.0.1")
    assert adapter._pool_maxsize == 32


def test_client_is_built_once_across_threads(gcs_config_factory: Any) -> None:
    store = GCSStorage(gcs_config_factory())
    calls: list[int] = []
    build = store._build_client

    def counting() -> Any:
        calls.append(1)
        return build()

    store._build_client = counting  # type: ignore[method-assign]
    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = set(map(id, pool.map(lambda _: store.client, range(32))))
    assert len(clients) == 1 and calls == [1]


def test_storage_emulator_host_is_honoured(
    gcs_bucket: Any, gcs_config_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_bucket.endpoint)
    gcs_bucket.put("a.txt", b"abc")
    store = GCSStorage(gcs_config_factory(endpoint_url=None))
    assert store.head("a.txt").size == 3
    assert store.parse_url(f"{gcs_bucket.endpoint}/{gcs_bucket.name}/a.txt") == "a.txt"


# -- list ---------------------------------------------------------------------------------------


def test_list_past_1000_keys_on_the_emulator(storage: GCSStorage, gcs_bucket: Any) -> None:
    keys = [f"raw/many/{i:05d}.txt" for i in range(1050)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda k: gcs_bucket.put(k, b"x"), keys))
    gcs_bucket.put("other/outside.txt", b"x")
    gcs_bucket.put("raw/top.txt", b"hello")
    sent = _record(storage)

    listed = list(storage.list(prefix="many/"))

    assert [o.key for o in listed] == keys
    assert listed[0].size == 1 and listed[0].etag and listed[0].last_modified is not None
    params = _query(sent[0].url)
    assert params["prefix"] == "raw/many/" and params["maxResults"] == "1000"
    assert "nextPageToken" in params["fields"]
    assert {o.key for o in storage.list()} == {*keys, "raw/top.txt"}


class _PagingHandler(BaseHTTPRequestHandler):
    """objects.list with real pagination (the emulator ignores maxResults / pageToken)."""

    names = [f"raw/many/{i:05d}.txt" for i in range(1050)]
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        params = _query(self.path)
        type(self).seen.append(params)
        names = [n for n in self.names if n.startswith(params.get("prefix", ""))]
        names = [n for n in names if n >= params.get("startOffset", "")]
        start = int(params.get("pageToken", "0"))
        end = start + int(params.get("maxResults", "1000"))
        body: dict[str, Any] = {"items": [{"name": n, "size": "1"} for n in names[start:end]]}
        if end < len(names):
            body["nextPageToken"] = str(end)
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def paging_endpoint() -> Iterator[str]:
    _PagingHandler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PagingHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_list_follows_page_tokens(paging_endpoint: str) -> None:
    store = _offline_storage(
        GCSAnonymousAuth(method="anonymous"), bucket="pages", endpoint_url=paging_endpoint
    )
    listed = [o.key for o in store.list(prefix="many/")]
    assert listed == _PagingHandler.names
    assert [p.get("pageToken") for p in _PagingHandler.seen] == [None, "1000"]
    assert {p["maxResults"] for p in _PagingHandler.seen} == {"1000"}

    _PagingHandler.seen = []
    after = list(store.list(start_after="raw/many/01040.txt"))
    assert [o.key for o in after] == _PagingHandler.names[1041:]
    assert _PagingHandler.seen[0]["startOffset"] == "raw/many/01040.txt"


def test_list_start_after(storage: GCSStorage, gcs_bucket: Any) -> None:
    for name in ("a", "b", "c", "d"):
        gcs_bucket.put(f"raw/{name}.txt", name)
    assert [o.key for o in storage.list(start_after="raw/b.txt")] == ["raw/c.txt", "raw/d.txt"]
    assert [o.key for o in storage.list(prefix="c")] == ["raw/c.txt"]


def test_list_missing_bucket(gcs_config_factory: Any) -> None:
    store = GCSStorage(gcs_config_factory(bucket="test-no-such-bucket"))
    with pytest.raises(StorageError) as info:
        list(store.list())
    assert info.value.code == "NotFound" and not info.value.transient
    assert str(info.value) == "gs://test-no-such-bucket/: ListObjects NotFound (404)"


# -- head / read_range / open_stream ------------------------------------------------------------


def test_head_found_and_missing(storage: GCSStorage, gcs_bucket: Any) -> None:
    gcs_bucket.put("raw/img.png", b"\x89PNG....", content_type="image/png")
    info = storage.head("raw/img.png")
    assert (info.key, info.size, info.content_type) == ("raw/img.png", 8, "image/png")
    assert info.etag and info.last_modified is not None
    with pytest.raises(StorageError) as missing:
        storage.head("raw/nope.png")
    assert missing.value.code == "NotFound" and missing.value.transient is False
    expected = f"gs://{gcs_bucket.name}/raw/nope.png: GetObjectMetadata NotFound (404)"
    assert str(missing.value) == expected


def test_read_range(storage: GCSStorage, gcs_bucket: Any) -> None:
    body = bytes(range(256)) * 4
    gcs_bucket.put("raw/blob.bin", body, content_type="application/octet-stream")
    sent = _record(storage)

    first = storage.read_range("raw/blob.bin", 0, 10)
    assert first.data == body[:10]
    assert first.info.size == 1024 and first.info.content_type == "application/octet-stream"
    assert len(sent) == 1 and sent[0].headers["Range"] == "bytes=0-9"  # one request, no HEAD

    last = storage.read_range("raw/blob.bin", 1000, 100)
    assert last.data == body[1000:] and len(last.data) == 24 and last.info.size == 1024

    with pytest.raises(StorageError) as beyond:
        storage.read_range("raw/blob.bin", 5000, 10)
    assert beyond.value.code == "InvalidRange" and not beyond.value.transient
    with pytest.raises(ValueError):
        storage.read_range("raw/blob.bin", 0, 0)


def test_read_range_zero_byte_object(storage: GCSStorage, gcs_bucket: Any) -> None:
    gcs_bucket.put("raw/empty.txt", b"", content_type="text/plain")
    read = storage.read_range("raw/empty.txt", 0, 64)
    assert read.data == b""
    assert (read.info.size, read.info.content_type) == (0, "text/plain")


def test_read_range_missing(storage: GCSStorage) -> None:
    with pytest.raises(StorageError) as info:
        storage.read_range("raw/missing", 0, 10)
    assert info.value.code == "NotFound"
    assert str(info.value).endswith("raw/missing: GetObject NotFound (404)")


def test_read_range_whole_body_answer(storage: GCSStorage) -> None:
    """A server that ignores Range (200 + whole object): slice it, size from the body."""
    blob = RangeBlob("raw/x", storage._bucket())
    blob.last_status, blob.last_headers = 200, CaseInsensitiveDict()
    read = range_result(storage.canonical_url("raw/x"), blob, b"0123456789", 4, 3)
    assert read.data == b"456" and read.info.size == 10


def test_open_stream_streams(
    storage: GCSStorage, gcs_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcsmod, "STREAM_CHUNK_SIZE", 256 * 1024)
    body = b"".join(f"line {i}\n".encode() for i in range(100_000))  # ~1.1 MB
    gcs_bucket.put("raw/manifest.csv", body)
    sent = _record(storage)
    stream = storage.open_stream("raw/manifest.csv")
    try:
        head = stream.read(10)
        assert head == body[:10] and stream.tell() == 10
        media = [r for r in sent if "alt=media" in r.url]
        assert len(media) == 1 and media[0].headers["Range"] == f"bytes=0-{256 * 1024}"
        assert "generation=" in media[0].url  # pinned to the version seen at open
        assert head + stream.read() == body
    finally:
        stream.close()
    assert stream.closed
    with io.TextIOWrapper(storage.open_stream("raw/manifest.csv"), encoding="utf-8") as text:
        assert [text.readline() for _ in range(2)] == ["line 0\n", "line 1\n"]


def test_open_stream_missing(storage: GCSStorage) -> None:
    with pytest.raises(StorageError) as info:
        storage.open_stream("raw/missing.csv")
    assert info.value.code == "NotFound"


# -- sign ---------------------------------------------------------------------------------------


def test_sign_v4_clamps_ttl(gcs_config_factory: Any, sa_auth: Any, gcs_bucket: Any) -> None:
    store = GCSStorage(gcs_config_factory(prefix="raw/", auth=sa_auth))
    url = store.sign("raw/a.txt", ttl_seconds=60)
    params = _query(url)
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-Expires"] == "900"
    assert params["X-Goog-Credential"].startswith(f"{SA_EMAIL}/")
    assert len(params["X-Goog-Signature"]) == 512  # hex of a 2048-bit RSA signature
    assert url.startswith(f"{gcs_bucket.endpoint}/{gcs_bucket.name}/raw/a.txt?")
    assert _query(store.sign("raw/a.txt", ttl_seconds=10 * 86400))["X-Goog-Expires"] == "86400"
    assert _query(store.sign("raw/a.txt"))["X-Goog-Expires"] == "3600"


def test_signed_url_fetches_and_encodes(
    gcs_config_factory: Any, sa_auth: Any, gcs_bucket: Any
) -> None:
    store = GCSStorage(gcs_config_factory(prefix="raw/", auth=sa_auth))
    key = "raw/my file ü+.txt"
    gcs_bucket.put(key, b"payload")
    url = store.sign(key)
    assert "/raw/my%20file%20%C3%BC%2B.txt?" in url
    assert _fetch(url) == b"payload"  # the emulator serves, without checking, signed URLs
    assert store.parse_url(url) == key


def test_sign_defaults_to_google_host(sa_auth: Any) -> None:
    url = _offline_storage(sa_auth).sign("raw/a b.jpg")
    assert url.startswith("https://storage.googleapis.com/y-bucket/raw/a%20b.jpg?X-Goog-")


def test_sign_anonymous_is_unavailable(storage: GCSStorage) -> None:
    with pytest.raises(StorageError) as info:
        storage.sign("raw/a.txt")
    err = info.value
    assert err.code == "SigningUnavailable" and not err.transient
    assert "anonymous credentials cannot sign" in str(err)
    assert "service_account" in str(err) and "roles/iam.serviceAccountTokenCreator" in str(err)


def test_sign_with_adc(
    gcs_service_account_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adc = GCSDefaultAuth(method="adc")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(gcs_service_account_file))
    url = _offline_storage(adc).sign("raw/a.txt", ttl_seconds=1200)
    assert _query(url)["X-Goog-Expires"] == "1200"

    user = tmp_path / "user.json"
    user.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "id",
                "client_secret": "not-a-secret",
                "refresh_token": "not-a-token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user))
    with pytest.raises(StorageError) as info:
        _offline_storage(adc).sign("raw/a.txt")
    assert info.value.code == "SigningUnavailable"
    assert "Credentials credentials cannot sign" in str(info.value)


# -- parse_url ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key", "style"),
    [
        ("gs://y-bucket/raw/a b+c%20.jpg", "raw/a b+c%20.jpg", "gs"),
        ("https://storage.googleapis.com/y-bucket/raw/file%202.jpg", "raw/file 2.jpg", "path"),
        ("https://y-bucket.storage.googleapis.com/raw/%C3%A9.jpg", "raw/é.jpg", "virtual"),
        ("https://storage.cloud.google.com/y-bucket/raw/a.jpg?authuser=1", "raw/a.jpg", "path"),
        (
            "https://storage.googleapis.com/download/storage/v1/b/y-bucket/o/raw%2Fa%2Bb.jpg"
            "?alt=media",
            "raw/a+b.jpg",
            "json",
        ),
        (
            "https://storage.googleapis.com/y-bucket/raw/a.jpg?X-Goog-Algorithm=GOOG4-RSA-SHA256"
            "&X-Goog-Signature=00ff",
            "raw/a.jpg",
            "path",
        ),
    ],
)
def test_parse_url_accepts(url: str, key: str, style: str) -> None:
    store = _offline_storage(GCSAnonymousAuth(method="anonymous"))
    assert store.parse_url(url) == key
    assert parse_gcs_url(url).style == style


def test_parse_url_on_endpoint(storage: GCSStorage, gcs_bucket: Any) -> None:
    base, name = gcs_bucket.endpoint, gcs_bucket.name
    assert storage.parse_url(f"{base}/{name}/raw/x%20y.png") == "raw/x y.png"
    assert storage.parse_url(f"{base}/storage/v1/b/{name}/o/raw%2Fx%20y.png") == "raw/x y.png"
    assert storage.parse_url(f"{base}/download/storage/v1/b/{name}/o/raw%2Fz?alt=media") == "raw/z"
    loc = parse_gcs_url(f"{base}/{name}/raw/z", endpoint_url=base)
    assert (loc.bucket, loc.key, loc.style) == (name, "raw/z", "endpoint")
    with pytest.raises(UrlError, match="not a Cloud Storage endpoint"):
        parse_gcs_url(f"{base}/{name}/raw/z")


@pytest.mark.parametrize(
    ("url", "expected", "field"),
    [
        (
            "gs://x-bucket/raw/a.jpg",
            "belongs to bucket 'x-bucket', but integration 'acme' reads bucket 'y-bucket'",
            "url",
        ),
        ("gs://y-bucket/cooked/a.jpg", "key is outside the integration prefix 'raw/'", "url"),
        (
            "https://y-bucket.storage.googleapis.com/cooked/a.jpg",
            "outside the integration prefix",
            "url",
        ),
        ("https://storage.googleapis.com/y-bucket/raw/a b.jpg", "encode spaces as %20", "key"),
        ("https://storage.googleapis.com/y-bucket/raw/a+b.jpg", "'+' is ambiguous", "key"),
        ("https://storage.googleapis.com/y-bucket/raw/a%zz.jpg", "bad percent-escape", "key"),
        ("https://storage.googleapis.com/y-bucket/raw/%FF.jpg", "do not decode to UTF-8", "key"),
        ("https://storage.googleapis.com/y-bucket/raw/é.jpg", "non-ASCII", "key"),
        ("https://storage.googleapis.com/y-bucket/", "no object key", "key"),
        ("https://storage.googleapis.com/", "no bucket in URL path", "bucket"),
        ("https://user:pw@storage.googleapis.com/y-bucket/raw/a", "user name or password", "url"),
        ("https://s3.amazonaws.com/y-bucket/raw/a.jpg", "not a Cloud Storage endpoint", "url"),
        ("ftp://y-bucket/raw/a.jpg", "unsupported scheme", "url"),
        ("gs://Y_Bucket/raw/a.jpg", "invalid bucket name", "bucket"),
        ("gs://my-google-bucket/raw/a.jpg", "must not start with 'goog'", "bucket"),
        ("gs://y-bucket/raw/a\nb", "carriage return or line feed", "key"),
        ("raw/a.jpg", "not a URL", "url"),
        (" gs://y-bucket/raw/a.jpg", "whitespace", "url"),
    ],
)
def test_parse_url_rejects(url: str, expected: str, field: str) -> None:
    with pytest.raises(UrlError) as info:
        _offline_storage(GCSAnonymousAuth(method="anonymous")).parse_url(url)
    assert expected in info.value.reason
    assert info.value.field == field


def test_parse_url_error_hides_query_and_user_info() -> None:
    url = "https://user:pw@x.storage.googleapis.com/a b?X-Goog-Signature=deadbeef"
    with pytest.raises(UrlError) as info:
        parse_gcs_url(url)
    assert "deadbeef" not in str(info.value) and "pw" not in str(info.value)


# -- check --------------------------------------------------------------------------------------


def test_check_all_pass(gcs_config_factory: Any, gcs_bucket: Any, live_sa_auth: Any) -> None:
    store = GCSStorage(gcs_config_factory(prefix="raw/", auth=live_sa_auth))
    gcs_bucket.put("raw/a.txt", b"abc", content_type="text/plain")
    gcs_bucket.put("raw/b.txt", b"def")
    rows = store.check()
    assert [r.permission for r in rows] == [
        "storage.objects.list",
        "storage.objects.get (metadata)",
        "storage.objects.get (ranged read)",
        "sign (V4)",
    ]
    assert all(r.ok for r in rows), rows
    assert "listed 1 key(s)" in rows[0].detail
    assert rows[1].detail == "3 bytes, text/plain"
    assert rows[2].detail == "read 1 byte(s) of 3"
    assert "generated locally" in rows[3].detail
    assert all(r.ok for r in store.check(f"gs://{gcs_bucket.name}/raw/b.txt"))


def test_check_anonymous_cannot_sign(storage: GCSStorage, gcs_bucket: Any) -> None:
    gcs_bucket.put("raw/a.txt", b"abc")
    rows = {r.permission: r for r in storage.check("raw/a.txt")}
    assert [r.ok for r in rows.values()] == [True, True, True, False]
    sign = rows["sign (V4)"]
    assert "SigningUnavailable" in sign.detail
    assert sign.fix.startswith("SigningUnavailable: use auth method service_account")


def test_check_missing_bucket(gcs_config_factory: Any, live_sa_auth: Any) -> None:
    store = GCSStorage(
        gcs_config_factory(bucket="test-missing-bucket", prefix="raw/", auth=live_sa_auth)
    )
    rows = {r.permission: r for r in store.check("raw/a.txt")}
    listing = rows["storage.objects.list"]
    assert not listing.ok and "ListObjects NotFound (404)" in listing.detail
    assert listing.fix.startswith("NoSuchBucket: bucket 'test-missing-bucket' does not exist at")
    head = rows["storage.objects.get (metadata)"]
    assert not head.ok and head.detail == "not tried: bucket 'test-missing-bucket' does not exist"
    assert rows["sign (V4)"].ok


def test_check_missing_key(storage: GCSStorage, gcs_bucket: Any) -> None:
    gcs_bucket.put("raw/a.txt", b"abc")
    rows = {r.permission: r for r in storage.check("raw/nope.txt")}
    assert rows["storage.objects.list"].ok
    for name in ("storage.objects.get (metadata)", "storage.objects.get (ranged read)"):
        assert not rows[name].ok and "NotFound" in rows[name].detail
        assert rows[name].fix.startswith("NoSuchKey: no object at this key; check the key")


def test_check_empty_prefix_and_bad_url(storage: GCSStorage) -> None:
    rows = {r.permission: r for r in storage.check()}
    assert rows["storage.objects.list"].ok
    assert "listed 0 key(s)" in rows["storage.objects.list"].detail
    assert not rows["storage.objects.get (metadata)"].ok
    assert "pass a key" in rows["storage.objects.get (metadata)"].fix
    rows = {r.permission: r for r in storage.check("gs://other-bucket/raw/a.txt")}
    assert not rows["url"].ok and "belongs to bucket 'other-bucket'" in rows["url"].detail


def test_unreachable_endpoint(gcs_config_factory: Any, short_retry: None) -> None:
    store = GCSStorage(gcs_config_factory(endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(StorageError) as info:
        store.head("k")
    assert (info.value.code, info.value.transient) == ("Network", True)
    assert "talking to http://127.0.0.1:9" in str(info.value)
    rows = {row.permission: row for row in store.check("k")}
    assert not rows["storage.objects.list"].ok
    assert rows["storage.objects.list"].fix.startswith("endpoint unreachable")


def test_unreachable_token_endpoint(
    gcs_config_factory: Any, sa_auth: Any, short_retry: None
) -> None:
    store = GCSStorage(gcs_config_factory(prefix="raw/", auth=sa_auth))
    rows = {row.permission: row for row in store.check("raw/a.txt")}
    listing = rows["storage.objects.list"]
    assert not listing.ok and "ListObjects Network" in listing.detail
    assert listing.fix.startswith("auth endpoint unreachable")
    assert rows["sign (V4)"].ok  # signing is local: no token needed


def test_bad_key_file(gcs_config_factory: Any, tmp_path: Path) -> None:
    missing = GCSServiceAccountAuth(method="service_account", key_file=str(tmp_path / "no.json"))
    with pytest.raises(StorageError) as info:
        GCSStorage(gcs_config_factory(auth=missing)).head("k")
    assert info.value.code == "Auth" and "no.json: cannot read it" in str(info.value)

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "service_account", "private_key": "TOPSECRETPEM"}))
    auth = GCSServiceAccountAuth(method="service_account", key_file=str(bad))
    rows = GCSStorage(gcs_config_factory(auth=auth)).check()
    assert not rows[0].ok and "not a service-account JSON key" in rows[0].detail
    assert rows[0].fix.startswith("KeyFile: check the key file")
    assert all("TOPSECRETPEM" not in f"{r.detail} {r.fix}" for r in rows)


@pytest.mark.parametrize(
    ("permission", "auth", "exc", "fix"),
    [
        (
            P_LIST,
            "sa",
            api_exceptions.Forbidden("denied"),
            f"403: grant roles/storage.objectViewer on gs://bkt to {MEMBER} with the IAM "
            "condition on prefix 'raw/' from setup_guide (needs storage.objects.list)",
        ),
        (
            P_HEAD,
            "sa",
            api_exceptions.Forbidden("denied", errors=[{"reason": "forbidden"}]),
            f"forbidden: grant roles/storage.objectViewer on gs://bkt to {MEMBER}",
        ),
        (
            P_GET,
            "anonymous",
            api_exceptions.Forbidden("denied"),
            "403: gs://bkt does not allow anonymous reads; use auth method service_account or adc",
        ),
        (P_LIST, "sa", api_exceptions.Unauthorized("no"), "401: check the key file"),
        (
            P_LIST,
            "adc",
            auth_exceptions.RefreshError("no"),
            "RefreshError: no usable application default credentials",
        ),
        (P_HEAD, "sa", api_exceptions.TooManyRequests("slow"), "throttled"),
        (P_HEAD, "sa", api_exceptions.ServiceUnavailable("x"), "provider server error"),
    ],
)
def test_fix_texts(
    permission: str, auth: str, exc: Exception, fix: str, gcs_service_account_file: Path
) -> None:
    auths = {
        "sa": GCSServiceAccountAuth(
            method="service_account", key_file=str(gcs_service_account_file)
        ),
        "anonymous": GCSAnonymousAuth(method="anonymous"),
        "adc": GCSDefaultAuth(method="adc"),
    }
    store = _offline_storage(auths[auth], bucket="bkt")
    err = to_storage_error(exc, "X", "gs://bkt/raw/k")
    assert store.fix_for(permission, err).startswith(fix)


# -- error mapping ------------------------------------------------------------------------------


def _connection_error(url: str) -> requests.ConnectionError:
    return requests.ConnectionError("boom " + url, request=requests.Request("GET", url).prepare())


@pytest.mark.parametrize(
    ("exc", "expected", "transient", "shown"),
    [
        (api_exceptions.NotFound("m"), "NotFound", False, "404"),
        (api_exceptions.Forbidden("m"), "AccessDenied", False, "403"),
        (
            api_exceptions.Forbidden("m", errors=[{"reason": "userProjectMissing"}]),
            "AccessDenied",
            False,
            "403 userProjectMissing",
        ),
        (api_exceptions.Unauthorized("m"), "Auth", False, "401"),
        (api_exceptions.TooManyRequests("m"), "Throttled", True, "429"),
        (api_exceptions.InternalServerError("m"), "ServerError", True, "500"),
        (api_exceptions.ServiceUnavailable("m"), "ServerError", True, "503"),
        (api_exceptions.GatewayTimeout("m"), "ServerError", True, "504"),
        (api_exceptions.RequestRangeNotSatisfiable("m"), "InvalidRange", False, "416"),
        (api_exceptions.BadRequest("m"), "Error", False, "400"),
        (_connection_error("http://127.0.0.1:9/x"), "Network", True, "ConnectionError talking"),
        (requests.ReadTimeout("t"), "Network", True, "ReadTimeout talking to the endpoint"),
        (auth_exceptions.RefreshError("r"), "Auth", False, "RefreshError: credentials could not"),
        (auth_exceptions.TransportError("t"), "Network", True, "TransportError reaching"),
        (
            api_exceptions.RetryError("deadline", cause=api_exceptions.ServiceUnavailable("m")),
            "ServerError",
            True,
            "503",
        ),
        (DataCorruption(None, "bad"), "Corrupted", True, "DataCorruption: checksum mismatch"),
    ],
)
def test_error_mapping(exc: Exception, expected: str, transient: bool, shown: str) -> None:
    err = to_storage_error(exc, "GetObject", "gs://b/k")
    assert (err.code, err.transient) == (expected, transient)
    assert str(err).startswith(f"gs://b/k: GetObject {expected} ({shown}")


def test_error_messages_hide_urls_and_query_strings() -> None:
    signed = "http://user:pw@127.0.0.1:9/b/k?X-Goog-Signature=deadbeef&X-Goog-Credential=sa"
    err = to_storage_error(_connection_error(signed), "GetObject", "gs://b/k")
    assert str(err) == "gs://b/k: GetObject Network (ConnectionError talking to http://127.0.0.1:9)"
    api = api_exceptions.NotFound(f"GET {signed}: No such object")
    assert "deadbeef" not in str(to_storage_error(api, "GetObject", "gs://b/k"))
    retry = api_exceptions.RetryError("Timeout of 0.3s exceeded", cause=None)
    assert to_storage_error(retry, "X", "gs://b/k").code == "Network"


# -- setup guide --------------------------------------------------------------------------------


def test_setup_guide_with_prefix(sa_auth: Any) -> None:
    guide = _offline_storage(sa_auth).setup_guide(["https://app.example.com"], max_age=600)
    (binding,) = guide["iam"]["bindings"]
    assert binding["role"] == "roles/storage.objectViewer" and binding["members"] == [MEMBER]
    expression = binding["condition"]["expression"]
    assert 'resource.name.startsWith("projects/_/buckets/y-bucket/objects/raw/")' in expression
    assert 'getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("raw/")' in (
        expression
    )
    assert guide["iam"]["resource"] == "projects/_/buckets/y-bucket"
    assert guide["cors"] == [
        {
            "origin": ["https://app.example.com"],
            "method": ["GET", "HEAD"],
            "responseHeader": ["Content-Type", "Content-Range", "Accept-Ranges", "ETag"],
            "maxAgeSeconds": 600,
        }
    ]
    assert guide["notes"] and all(isinstance(n, str) for n in guide["notes"])
    quoted = _offline_storage(sa_auth, prefix='we"ird/').setup_guide(["https://a.example"])
    assert '.startsWith("we\\"ird/")' in quoted["iam"]["bindings"][0]["condition"]["expression"]
    assert any("uniform bucket-level access" in n for n in guide["notes"])


def test_setup_guide_without_prefix() -> None:
    store = _offline_storage(GCSDefaultAuth(method="adc"), prefix="")
    guide = store.setup_guide(["https://a.example", "https://b.example"])
    viewer, bucket_reader = guide["iam"]["bindings"]
    assert "condition" not in viewer
    assert viewer["members"] == ["serviceAccount:SERVICE_ACCOUNT_EMAIL"]
    assert bucket_reader["role"] == "roles/storage.legacyBucketReader"
    assert guide["cors"][0]["origin"] == ["https://a.example", "https://b.example"]
    assert guide["cors"][0]["maxAgeSeconds"] == 3600
    with pytest.raises(ValueError):
        store.setup_guide([])


def test_setup_guide_is_accepted_by_the_client(storage: GCSStorage, gcs_bucket: Any) -> None:
    guide = storage.setup_guide(["https://app.example.com"])
    bucket = gcs_bucket.client.bucket(gcs_bucket.name)
    bucket.cors = guide["cors"]
    bucket.patch()
    bucket.reload()
    assert bucket.cors == guide["cors"]
    policy = bucket.get_iam_policy(requested_policy_version=3)
    policy.version = 3
    policy.bindings = guide["iam"]["bindings"]
    bucket.set_iam_policy(policy)


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_never_shown(
    gcs_config_factory: Any,
    live_sa_auth: Any,
    gcs_private_key_pem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = gcs_config_factory(prefix="raw/", auth=live_sa_auth)
    store = GCSStorage(cfg)
    resource = GCSIntegrationResource.from_config(cfg)
    url = store.sign("raw/missing.txt")
    signature = _query(url)["X-Goog-Signature"]
    key_lines = [line for line in gcs_private_key_pem.splitlines() if "PRIVATE KEY" not in line]

    errors = []
    for call in (lambda: store.head("raw/missing.txt"), lambda: store.read_range("raw/m", 0, 1)):
        with pytest.raises(StorageError) as info:
            call()
        errors.append(str(info.value))
    texts = [repr(store), repr(resource), str(resource), *errors, caplog.text]
    texts += [f"{r.detail} {r.fix}" for r in store.check("raw/missing.txt")]
    texts.append(json.dumps(resource.safe_metadata()))
    for text in texts:
        assert "PRIVATE KEY" not in text and signature not in text
        assert "X-Goog-Signature" not in text
        assert not any(line in text for line in key_lines)


# -- Dagster resource ---------------------------------------------------------------------------


def test_resource_from_config_reads_the_emulator(gcs_bucket: Any, gcs_config_factory: Any) -> None:
    gcs_bucket.put("raw/a.txt", b"abc")
    cfg = gcs_config_factory(prefix="raw/", project="test-project")
    resource = GCSIntegrationResource.from_config(cfg)
    assert resource.to_config() == cfg
    store = resource.get_storage()
    assert store is resource.get_storage()
    assert resource.get_client() is store.client
    assert store.head("raw/a.txt").size == 3


def test_resource_auth_inference_and_errors(gcs_service_account_file: Path) -> None:
    key_file = str(gcs_service_account_file)
    by_key = GCSIntegrationResource(integration_name="acme", bucket="y-bucket", key_file=key_file)
    assert by_key.to_config().auth == GCSServiceAccountAuth(
        method="service_account", key_file=key_file
    )
    plain = GCSIntegrationResource(integration_name="acme", bucket="y-bucket")
    assert plain.to_config().auth.method == "adc"
    assert plain.safe_metadata()["auth"] == "adc"
    for fields, message in (
        ({"auth_method": "service_account"}, "needs key_file"),
        ({"auth_method": "anonymous", "key_file": key_file}, "only used with"),
        ({"auth_method": "hmac"}, "auth_method must be one of"),
        ({"integration_name": "bad name!"}, "name"),
    ):
        values = {"integration_name": "acme", "bucket": "y-bucket", **fields}
        with pytest.raises(ConfigError, match=message):
            GCSIntegrationResource(**values).to_config()


def test_resource_in_dagster_asset(gcs_bucket: Any, gcs_config_factory: Any) -> None:
    from dagster import asset, materialize_to_memory

    gcs_bucket.put("raw/a.txt", b"abcd")

    @asset
    def object_size(gcs_integration: GCSIntegrationResource) -> int:
        return gcs_integration.get_storage().head("raw/a.txt").size

    resource = GCSIntegrationResource.from_config(gcs_config_factory(prefix="raw/"))
    result = materialize_to_memory([object_size], resources={"gcs_integration": resource})
    assert result.success and result.output_for_node("object_size") == 4
