"""AzureStorage and AzureIntegrationResource against Azurite on 127.0.0.1 (it enforces SAS)."""

from __future__ import annotations

import base64
import json
import logging
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ClientSecretCredential
from azure.storage.blob import CorsRule, UserDelegationKey

from orchestration_pkg.core.config import (
    AzureAccountKeyAuth,
    AzureConnectionStringAuth,
    AzureIntegrationConfig,
    AzureSasAuth,
    AzureServicePrincipalAuth,
)
from orchestration_pkg.core.errors import ConfigError, StorageError, UrlError
from orchestration_pkg.core.providers.azure import clients as azclients
from orchestration_pkg.core.providers.azure import storage as azmod
from orchestration_pkg.core.providers.azure.errors import to_storage_error
from orchestration_pkg.core.providers.azure.sas import parse_sas
from orchestration_pkg.core.providers.azure.storage import AzureStorage
from orchestration_pkg.core.providers.azure.urls import account_name_of, parse_azure_url
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.urls import redact_url
from orchestration_pkg.resources.azure import AzureIntegrationResource
from tests.fixtures.azurite import ACCOUNT_KEY

SECRET = "SUPERSECRETclientSECRET0123456789"
PUBLIC_URL = "https://acct.blob.core.windows.net"


class CountingTransport(RequestsTransport):
    """A requests transport that records every request it sends (method, URL sans query)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append((request.method, redact_url(request.url)))
        return super().send(request, **kwargs)


def _sas_auth(token: str) -> AzureSasAuth:
    return AzureSasAuth(method="sas", sas_token=token)


def _sig(token: str) -> str:
    return parse_qs(token.lstrip("?"))["sig"][0]


def _tamper(token: str) -> str:
    index = token.index("sig=") + len("sig=")
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


def _fetch(url: str) -> bytes:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _ago(**kw: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**kw)


def _in(**kw: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(**kw)


def _public(prefix: str = "raw/", auth: Any = None) -> AzureStorage:
    """A storage on a public-cloud account (never contacted)."""
    return AzureStorage(
        AzureIntegrationConfig(
            name="acme",
            provider="azure",
            account_url=PUBLIC_URL,
            container="photos",
            prefix=prefix,
            auth=auth or AzureAccountKeyAuth(method="account_key", account_key=ACCOUNT_KEY),
        )
    )


def _sp_auth(**extra: Any) -> AzureServicePrincipalAuth:
    return AzureServicePrincipalAuth(
        method="service_principal",
        tenant_id="00000000-0000-0000-0000-000000000001",
        client_id="00000000-0000-0000-0000-000000000002",
        client_secret=SECRET,
        **extra,
    )


@pytest.fixture
def storage(azure_config_factory: Any) -> AzureStorage:
    return AzureStorage(azure_config_factory(prefix="raw/"))


# -- basics -------------------------------------------------------------------------------------


def test_is_a_storage_with_attributes(storage: AzureStorage, azure_container: Any) -> None:
    assert isinstance(storage, Storage)
    assert (storage.name, storage.provider, storage.container, storage.prefix) == (
        "acme",
        "azure",
        azure_container.name,
        "raw/",
    )
    assert storage.account_name == "devstoreaccount1"
    assert storage.canonical_url("raw/a b ü.jpg") == (
        f"{azure_container.account_url}/{azure_container.name}/raw/a%20b%20%C3%BC.jpg"
    )
    assert storage.record_key("raw/x") == "raw/x"
    assert storage.service is storage.service
    assert storage.container_client is storage.container_client


def test_client_options(storage: AzureStorage) -> None:
    config = storage.service._config
    # azure-core retries nothing: core/retry.py's one policy retries every request.
    assert config.retry_policy.total_retries == azclients.RETRY_TOTAL == 0
    assert storage.retry_policy.max_attempts == 4
    assert config.logging_policy.enable_http_logger is False
    assert config.max_single_get_size == config.max_chunk_get_size == azclients.DOWNLOAD_CHUNK


def test_account_names() -> None:
    assert account_name_of("http://127.0.0.1:10000/devstoreaccount1") == "devstoreaccount1"
    assert account_name_of("https://acct.blob.core.windows.net/") == "acct"
    assert account_name_of("https://acct.blob.core.windows.net?sv=1&sig=x") == "acct"


# -- list ---------------------------------------------------------------------------------------


def test_list_paginates(azure_config_factory: Any, azure_container: Any) -> None:
    keys = [f"raw/many/{i:04d}.txt" for i in range(120)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda k: azure_container.put(k, b"x"), keys))
    azure_container.put("other/outside.txt", b"x")
    azure_container.put("raw/top.txt", b"hello")
    transport = CountingTransport()
    store = AzureStorage(azure_config_factory(prefix="raw/"), transport=transport)
    store.list_page_size = 50

    listed = list(store.list(prefix="many/"))

    assert [o.key for o in listed] == keys
    assert len(transport.sent) == 3  # 50 + 50 + 20
    assert listed[0].size == 1 and listed[0].etag and '"' not in listed[0].etag
    assert listed[0].last_modified is not None
    assert {o.key for o in store.list()} == {*keys, "raw/top.txt"}


def test_list_start_after(storage: AzureStorage, azure_container: Any) -> None:
    for name in ("a", "b", "c", "d"):
        azure_container.put(f"raw/{name}.txt", name)
    assert [o.key for o in storage.list(start_after="raw/b.txt")] == ["raw/c.txt", "raw/d.txt"]
    assert [o.key for o in storage.list(start_after="raw/bb")] == ["raw/c.txt", "raw/d.txt"]


def test_list_missing_container(azure_config_factory: Any) -> None:
    store = AzureStorage(azure_config_factory(container="no-such-container"))
    with pytest.raises(StorageError) as info:
        list(store.list())
    assert info.value.code == "NotFound" and not info.value.transient
    assert "ListBlobs NotFound (404 ContainerNotFound)" in str(info.value)


# -- head / read_range / open_stream ------------------------------------------------------------


def test_head_found_and_missing(storage: AzureStorage, azure_container: Any) -> None:
    azure_container.put("raw/img.png", b"\x89PNG....", content_type="image/png")
    info = storage.head("raw/img.png")
    assert (info.key, info.size, info.content_type) == ("raw/img.png", 8, "image/png")
    assert info.etag and '"' not in info.etag and info.last_modified is not None
    with pytest.raises(StorageError) as missing:
        storage.head("raw/nope.png")
    assert missing.value.code == "NotFound" and missing.value.transient is False
    assert str(missing.value) == (
        f"{azure_container.account_url}/{azure_container.name}/raw/nope.png: "
        "GetBlobProperties NotFound (404 BlobNotFound)"
    )
    assert missing.value.__cause__ is None and missing.value.__context__ is None


def test_read_range(storage: AzureStorage, azure_container: Any) -> None:
    body = bytes(range(256)) * 4
    azure_container.put("raw/blob.bin", body, content_type="application/octet-stream")

    first = storage.read_range("raw/blob.bin", 0, 10)
    assert first.data == body[:10]
    assert first.info.size == 1024 and first.info.content_type == "application/octet-stream"
    assert first.info.etag and '"' not in first.info.etag

    last = storage.read_range("raw/blob.bin", 1000, 100)
    assert last.data == body[1000:] and len(last.data) == 24 and last.info.size == 1024

    with pytest.raises(StorageError) as beyond:
        storage.read_range("raw/blob.bin", 5000, 10)
    assert beyond.value.code == "InvalidRange"
    assert "GetBlob InvalidRange (416 InvalidRange)" in str(beyond.value)
    with pytest.raises(ValueError):
        storage.read_range("raw/blob.bin", 0, 0)


def test_read_range_zero_byte_blob(storage: AzureStorage, azure_container: Any) -> None:
    azure_container.put("raw/empty.txt", b"", content_type="text/plain")
    read = storage.read_range("raw/empty.txt", 0, 64)
    assert read.data == b""
    assert (read.info.size, read.info.content_type) == (0, "text/plain")


def test_read_range_missing(storage: AzureStorage) -> None:
    with pytest.raises(StorageError) as info:
        storage.read_range("raw/missing", 0, 10)
    assert info.value.code == "NotFound"
    assert "GetBlob NotFound (404 BlobNotFound)" in str(info.value)


def test_open_stream_streams(
    azure_config_factory: Any, azure_container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(azclients, "DOWNLOAD_CHUNK", 64 * 1024)
    monkeypatch.setattr(azmod, "STREAM_BUFFER", 16 * 1024)
    body = b"".join(f"line {i}\n".encode() for i in range(40_000))  # ~400 KiB
    azure_container.put("raw/manifest.csv", body)
    transport = CountingTransport()
    store = AzureStorage(azure_config_factory(prefix="raw/"), transport=transport)
    stream = store.open_stream("raw/manifest.csv")
    try:
        head = stream.read(10)
        assert head == body[:10]
        assert stream.tell() == 10
        assert len(transport.sent) == 1  # only the first 64 KiB chunk so far
        assert head + stream.read() == body
        assert len(transport.sent) >= len(body) // (64 * 1024)
    finally:
        stream.close()
    with pytest.raises(StorageError) as info:
        store.open_stream("raw/missing.csv")
    assert info.value.code == "NotFound"


def test_names_with_spaces_and_non_ascii(storage: AzureStorage, azure_container: Any) -> None:
    key = "raw/dir with space/ünï cödé 名前+x.txt"
    azure_container.put(key, b"payload")
    assert [o.key for o in storage.list()] == [key]
    assert storage.head(key).size == 7
    url = storage.canonical_url(key)
    assert (
        "/raw/dir%20with%20space/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9%20%E5%90%8D%E5%89%8D%2Bx.txt"
        in (url)
    )
    assert storage.parse_url(url) == key
    assert _fetch(storage.sign(key)) == b"payload"
    with storage.open_stream(key) as stream:
        assert stream.read() == b"payload"


# -- parse_url ----------------------------------------------------------------------------------


def test_parse_url_accepts(storage: AzureStorage, azure_container: Any) -> None:
    store = _public()
    assert store.parse_url(f"{PUBLIC_URL}/photos/raw/a.jpg") == "raw/a.jpg"
    assert store.parse_url(f"{PUBLIC_URL}/photos/raw/file%202%2B1.jpg") == "raw/file 2+1.jpg"
    assert (
        store.parse_url("https://ACCT.blob.core.windows.net/photos/raw/%C3%A9.jpg") == "raw/é.jpg"
    )
    assert store.parse_url("az://photos/raw/a b+c.jpg") == "raw/a b+c.jpg"
    assert store.parse_url("azure://photos/raw/x%20y") == "raw/x%20y"  # literal
    assert store.parse_url(f"{PUBLIC_URL}/photos/raw/a.jpg?sv=2024&sig=SIGNATURE") == "raw/a.jpg"
    assert _public(prefix="").parse_url(f"{PUBLIC_URL}/photos/anything") == "anything"
    emulator = f"{azure_container.account_url}/{azure_container.name}/raw/x%20y.png"
    assert storage.parse_url(emulator) == "raw/x y.png"
    assert storage.parse_url(emulator + "?se=x&sig=abc") == "raw/x y.png"
    assert parse_azure_url(f"{PUBLIC_URL}/c-1/b") == ("c-1", "b")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"{PUBLIC_URL}/videos/raw/a.jpg",
            "belongs to container 'videos' of account 'acct', but integration 'acme' reads "
            "container 'photos'",
        ),
        ("az://videos/raw/a.jpg", "belongs to container 'videos' of account 'acct'"),
        ("https://other.blob.core.windows.net/photos/raw/a.jpg", "storage account 'other'"),
        (f"{PUBLIC_URL}/photos/cooked/a.jpg", "outside the integration prefix 'raw/'"),
        (f"{PUBLIC_URL}/photos/raw/a b.jpg", "encode spaces as %20"),
        (f"{PUBLIC_URL}/photos/raw/a+b.jpg", "'+' is ambiguous"),
        (f"{PUBLIC_URL}/photos/raw/é.jpg", "encode non-ASCII"),
        (f"{PUBLIC_URL}/photos/raw/a%zz.jpg", "bad percent-escape"),
        (f"{PUBLIC_URL}/photos/raw/%FF.jpg", "do not decode to UTF-8"),
        (f"{PUBLIC_URL}/photos", "no blob name"),
        (f"{PUBLIC_URL}/Bad_Name/raw/a.jpg", "invalid container name"),
        ("https://example.com/photos/raw/a.jpg", "not an Azure Blob endpoint"),
        ("http://127.0.0.1:10000/devstoreaccount1/photos/raw/a", "not an Azure Blob endpoint"),
        ("ftp://photos/raw/a.jpg", "unsupported scheme"),
        ("photos/raw/a.jpg", "not a URL"),
        (" az://photos/raw/a.jpg", "whitespace"),
    ],
)
def test_parse_url_rejects(url: str, expected: str) -> None:
    with pytest.raises(UrlError) as info:
        _public().parse_url(url + "?sv=1&sig=TOPSECRET")
    assert expected in info.value.reason
    assert "TOPSECRET" not in str(info.value)


# -- auth modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["account_key", "connection_string", "sas", "container_sas"])
def test_auth_modes_list_head_and_sign(
    auth: str, azure_config_factory: Any, azure_container: Any
) -> None:
    azure_container.put("raw/a.txt", b"abc")
    store = AzureStorage(azure_config_factory(auth=auth, prefix="raw/"))
    assert [o.key for o in store.list()] == ["raw/a.txt"]
    assert store.head("raw/a.txt").size == 3
    assert store.read_range("raw/a.txt", 1, 5).data == b"bc"
    assert _fetch(store.sign("raw/a.txt")) == b"abc"
    rows = store.check()
    assert all(r.ok for r in rows), rows


def test_sas_with_leading_question_mark_or_sas_url(
    azure_config_factory: Any, azure_container: Any
) -> None:
    azure_container.put("a.txt", b"abc")
    token = azure_container.sas()
    for given in (f"?{token}", f"{azure_container.account_url}/?{token}"):
        store = AzureStorage(azure_config_factory(auth=_sas_auth(given)))
        assert store.head("a.txt").size == 3


def test_connection_string_without_credentials(azure_config_factory: Any) -> None:
    conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1"
    auth = AzureConnectionStringAuth(method="connection_string", connection_string=conn)
    store = AzureStorage(azure_config_factory(auth=auth))
    with pytest.raises(StorageError) as info:
        store.head("a")
    assert info.value.code == "Config" and "neither AccountKey nor" in str(info.value)


# -- SAS checks ---------------------------------------------------------------------------------


def test_expired_sas_fails_before_any_request(
    azure_config_factory: Any, azure_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    expiry = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0)
    token = azure_container.sas(expiry=expiry)
    transport = CountingTransport()
    caplog.set_level(logging.WARNING)
    store = AzureStorage(azure_config_factory(auth=_sas_auth(token)), transport=transport)
    assert store.sas_expiry == expiry
    shown = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    for call in (lambda: list(store.list()), lambda: store.head("a"), lambda: store.sign("a")):
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code == "SasExpired"
        assert str(info.value) == (
            f"SAS token expired on {shown}; generate a new one with Read+List and update sas_token"
        )
    assert transport.sent == []
    assert f"expired on {shown}" in caplog.text
    rows = store.check()
    assert rows[0].permission == "SAS token" and not rows[0].ok
    assert "expired on" in rows[0].detail and "generate a new SAS" in rows[0].fix
    assert [r.ok for r in rows[1:]] == [False] * 4
    assert transport.sent == []


def test_sas_not_yet_valid_and_malformed(azure_config_factory: Any, azure_container: Any) -> None:
    future = AzureStorage(
        azure_config_factory(auth=_sas_auth(azure_container.sas(start=_in(days=1))))
    )
    with pytest.raises(StorageError) as info:
        future.head("a")
    assert info.value.code == "SasNotYetValid" and "not valid before" in str(info.value)
    unsigned = AzureStorage(azure_config_factory(auth=_sas_auth("sv=2024-01-01&sp=rl")))
    with pytest.raises(StorageError) as info:
        unsigned.head("a")
    assert info.value.code == "SasInvalid" and "no signature" in str(info.value)
    garbled = AzureStorage(azure_config_factory(auth=_sas_auth("se=tomorrow&sp=rl&sig=abc")))
    with pytest.raises(StorageError) as info:
        garbled.head("a")
    assert info.value.code == "SasInvalid" and "se=" in str(info.value)


def test_sas_expiring_soon_warns(
    azure_config_factory: Any, azure_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = azure_container.sas(expiry=_in(days=2))
    caplog.set_level(logging.WARNING, logger="orchestration_pkg")
    store = AzureStorage(azure_config_factory(auth=_sas_auth(token)))
    assert store.sas_expiry is not None
    assert timedelta(days=1) < store.sas_expiry - datetime.now(timezone.utc) <= timedelta(days=2)
    assert "SAS token expires on" in caplog.text and "(in 2.0 days)" in caplog.text
    assert _sig(token) not in caplog.text and "sig=" not in caplog.text
    row = store.check()[0]
    assert row.ok and row.detail.startswith("warning: expires") and "update sas_token" in row.fix


def test_sas_without_list(
    azure_config_factory: Any, azure_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    azure_container.put("raw/a.txt", b"abc")
    caplog.set_level(logging.WARNING, logger="orchestration_pkg")
    token = azure_container.sas(permissions="r")
    store = AzureStorage(azure_config_factory(auth=_sas_auth(token), prefix="raw/"))
    assert "SAS token lacks List (l): listing and the sensor will fail" in caplog.text
    assert [p.text for p in store.sas.problems()] == [
        "SAS token lacks List (l): listing and the sensor will fail; regenerate with Read+List"
    ]
    assert store.head("raw/a.txt").size == 3  # Read alone is enough for HEAD

    with pytest.raises(StorageError) as info:
        list(store.list())
    err = info.value
    assert err.code == "AccessDenied"
    assert err.provider_code == "AuthorizationPermissionMismatch"  # type: ignore[attr-defined]
    assert "ListBlobs AccessDenied (403 AuthorizationPermissionMismatch)" in str(err)
    assert "SAS token lacks List (l)" in str(err) and _sig(token) not in str(err)

    rows = {r.permission: r for r in store.check("raw/a.txt")}
    assert not rows["SAS permissions"].ok and "lacks List (l)" in rows["SAS permissions"].detail
    assert "regenerate the SAS with Read and List" in rows["SAS permissions"].fix
    assert not rows["List Blobs"].ok
    assert rows["List Blobs"].fix.startswith("AuthorizationPermissionMismatch: the SAS lacks")
    assert rows["Get Blob Properties"].ok and rows["Get Blob (ranged)"].ok


def test_sas_resource_types_and_services(azure_config_factory: Any, azure_container: Any) -> None:
    azure_container.put("a.txt", b"abc")
    store = AzureStorage(
        azure_config_factory(auth=_sas_auth(azure_container.sas(resource_types="o")))
    )
    assert [p.text.split(":")[0] for p in store.sas.problems()] == [
        "SAS token lacks resource type Container (c)"
    ]
    with pytest.raises(StorageError) as info:
        list(store.list())
    assert "403 AuthorizationResourceTypeMismatch" in str(info.value)
    assert "lacks resource type Container (c)" in str(info.value)
    queue_only = parse_sas("ss=q&srt=co&sp=rl&se=2099-01-01&sig=x")
    assert "not valid for the Blob service" in queue_only.problems()[0].text
    single_blob = parse_sas("sr=b&sp=r&se=2099-01-01&sig=x")
    assert "single blob (sr=b)" in single_blob.problems()[0].text


def test_sas_more_than_read_list_is_a_warning_row(
    azure_config_factory: Any, azure_container: Any
) -> None:
    azure_container.put("a.txt", b"abc")
    token = azure_container.sas(permissions="rwdlac")
    rows = {
        r.permission: r for r in AzureStorage(azure_config_factory(auth=_sas_auth(token))).check()
    }
    scope = rows["SAS least privilege"]
    assert scope.ok and scope.detail.startswith("warning: the SAS grants more than Read+List")
    assert (
        "Write (w)" in scope.detail and "Delete (d)" in scope.detail and "Add (a)" in scope.detail
    )
    assert "sp=rl" in scope.fix
    assert all(r.ok for r in rows.values())


def test_sas_time_formats() -> None:
    assert parse_sas("se=2026-01-02&sig=x").expiry == datetime(2026, 1, 2, tzinfo=timezone.utc)
    minutes = parse_sas("se=2026-01-02T03:04Z&sig=x").expiry
    assert minutes == datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    offset = parse_sas("se=2026-01-02T03:04:05.1234567%2B01:00&sig=x").expiry
    assert offset == datetime(2026, 1, 2, 2, 4, 5, tzinfo=timezone.utc)
    assert parse_sas("se=soon&sig=x").unreadable == ("se",)


def test_tampered_signature(azure_config_factory: Any, azure_container: Any) -> None:
    azure_container.put("a.txt", b"abc")
    token = _tamper(azure_container.sas())
    store = AzureStorage(azure_config_factory(auth=_sas_auth(token)))
    for call in (lambda: list(store.list()), lambda: store.head("a.txt")):
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code in ("Auth", "AccessDenied")
        assert info.value.status == 403  # type: ignore[attr-defined]
        assert _sig(token) not in str(info.value) and "sig=" not in str(info.value)
    row = {r.permission: r for r in store.check()}["List Blobs"]
    assert not row.ok and "signature does not match" in row.fix


# -- rotation -----------------------------------------------------------------------------------


def test_rotate_sas_keeps_canonical_urls(
    azure_config_factory: Any, azure_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    azure_container.put("raw/a.txt", b"abc")
    token_a = azure_container.sas(expiry=_in(days=3))
    token_b = azure_container.container_sas(expiry=_in(days=60))
    store = AzureStorage(azure_config_factory(auth=_sas_auth(token_a), prefix="raw/"))
    url = store.canonical_url("raw/a.txt")
    registered = store.parse_url(url)
    assert store.head(registered).size == 3
    service_a = store.service

    caplog.set_level(logging.INFO, logger="orchestration_pkg")
    store.rotate_sas("?" + token_b)

    assert store.service is not service_a
    assert store.head(registered).size == 3
    assert store.canonical_url("raw/a.txt") == url
    assert store.sas_expiry is not None and store.sas_expiry > _in(days=50)
    assert store.sign("raw/a.txt").endswith(token_b)
    assert "SAS token rotated" in caplog.text
    assert _sig(token_a) not in caplog.text and _sig(token_b) not in caplog.text

    expired = azure_container.sas(expiry=_ago(hours=1))
    with pytest.raises(StorageError) as info:
        store.rotate_sas(expired)
    assert info.value.code == "SasExpired"
    assert store.head(registered).size == 3  # the old (B) token is kept
    with pytest.raises(ValueError):
        AzureStorage(azure_config_factory()).rotate_sas(token_b)


# -- sign ---------------------------------------------------------------------------------------


def _se(url: str) -> datetime:
    value = parse_qs(urlsplit(url).query)["se"][0]
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_sign_with_account_key_clamps_ttl(storage: AzureStorage, azure_container: Any) -> None:
    azure_container.put("raw/a.txt", b"signed!")
    url = storage.sign("raw/a.txt", ttl_seconds=60)
    assert url.startswith(storage.canonical_url("raw/a.txt") + "?")
    query = parse_qs(urlsplit(url).query)
    assert query["sp"] == ["r"] and query["sr"] == ["b"] and "spr" not in query
    assert abs((_se(url) - _in(seconds=900)).total_seconds()) < 5
    assert abs((_se(storage.sign("raw/a.txt", 10 * 86400)) - _in(days=1)).total_seconds()) < 5
    assert _fetch(url) == b"signed!"


def test_sign_https_account_requires_https() -> None:
    url = _public().sign("raw/a.txt")
    assert url.startswith(f"{PUBLIC_URL}/photos/raw/a.txt?")
    assert parse_qs(urlsplit(url).query)["spr"] == ["https"]


def _fake_delegation_key(calls: list[tuple[datetime, datetime]]) -> Any:
    def get_user_delegation_key(start: datetime, expiry: datetime, **_: Any) -> UserDelegationKey:
        calls.append((start, expiry))
        key = UserDelegationKey()
        key.signed_oid = "11111111-1111-1111-1111-111111111111"
        key.signed_tid = "00000000-0000-0000-0000-000000000001"
        key.signed_start = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service = "b"
        key.signed_version = "2025-01-05"
        key.value = base64.b64encode(b"k" * 32).decode()
        return key

    return get_user_delegation_key


def test_service_principal_builds_credential_without_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network call during construction: {args!r}")

    auth = _sp_auth(authority_host="https://login.microsoftonline.us")
    with monkeypatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", no_network)
        mp.setattr(socket.socket, "connect", no_network)
        store = _public(auth=auth)
        credential = store.credential
        assert store.service is store.service
    assert isinstance(credential, ClientSecretCredential)
    assert credential._authority.endswith("login.microsoftonline.us")
    assert credential._client_id == auth.client_id
    assert SECRET not in repr(store) and SECRET not in repr(credential)


def test_service_principal_signs_with_cached_delegation_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _public(auth=_sp_auth())
    calls: list[tuple[datetime, datetime]] = []
    monkeypatch.setattr(store.service, "get_user_delegation_key", _fake_delegation_key(calls))

    url = store.sign("raw/a.txt", ttl_seconds=3600)
    query = parse_qs(urlsplit(url).query)
    assert query["skoid"] == ["11111111-1111-1111-1111-111111111111"]
    assert query["sp"] == ["r"] and query["spr"] == ["https"] and "sig" in query
    assert abs((_se(url) - _in(hours=1)).total_seconds()) < 5
    store.sign("raw/b.txt", ttl_seconds=86400)
    assert len(calls) == 1
    start, expiry = calls[0]
    assert start < datetime.now(timezone.utc) < expiry <= _in(days=7)

    key, _ = store._delegation  # type: ignore[misc]
    store._delegation = (key, _in(minutes=20))  # nearly expired: fetched again
    store.sign("raw/c.txt", ttl_seconds=3600)
    assert len(calls) == 2


def test_service_principal_fixes() -> None:
    store = _public(auth=_sp_auth())
    denied = to_storage_error(_http_error(403, "AuthorizationPermissionMismatch"), "X", "t")
    assert "assign the Storage Blob Data Reader role to the service principal on the container" in (
        store.fix_for("List Blobs", denied)
    )
    assert "/storageAccounts/acct/blobServices/default/containers/photos" in store.fix_for(
        "List Blobs", denied
    )
    assert "Storage Blob Delegator" in store.fix_for("sign", denied)
    token = to_storage_error(ClientAuthenticationError("bad secret"), "X", "t")
    assert "check tenant_id, client_id and client_secret" in store.fix_for("List Blobs", token)


# -- check --------------------------------------------------------------------------------------


def test_check_all_pass(storage: AzureStorage, azure_container: Any) -> None:
    azure_container.put("raw/a.txt", b"abc")
    rows = storage.check()
    assert [r.permission for r in rows] == [
        "List Blobs",
        "Get Blob Properties",
        "Get Blob (ranged)",
        "sign",
    ]
    assert all(r.ok for r in rows), rows
    assert "listed 1 blob(s)" in rows[0].detail
    assert all(r.ok for r in storage.check(storage.canonical_url("raw/a.txt")))


def test_check_sas_rows(azure_config_factory: Any, azure_container: Any) -> None:
    azure_container.put("a.txt", b"abc")
    rows = AzureStorage(azure_config_factory(auth="sas")).check()
    assert [r.permission for r in rows][:2] == ["SAS token", "SAS permissions"]
    assert rows[0].detail.startswith("expires ") and rows[1].detail == "grants rl"
    assert all(r.ok for r in rows)


def test_check_missing_container(azure_config_factory: Any) -> None:
    store = AzureStorage(azure_config_factory(container="missing-container", prefix="raw/"))
    rows = {r.permission: r for r in store.check("raw/a.txt")}
    listing = rows["List Blobs"]
    assert not listing.ok and "404 ContainerNotFound" in listing.detail
    assert listing.fix.startswith("ContainerNotFound: container 'missing-container' does not")
    assert not rows["Get Blob Properties"].ok
    assert rows["sign"].ok


def test_check_missing_blob_and_bad_url(storage: AzureStorage, azure_container: Any) -> None:
    azure_container.put("raw/a.txt", b"abc")
    rows = {r.permission: r for r in storage.check("raw/nope.txt")}
    assert rows["List Blobs"].ok
    for name in ("Get Blob Properties", "Get Blob (ranged)"):
        assert not rows[name].ok and "BlobNotFound" in rows[name].detail
        assert "check the name" in rows[name].fix
    rows = {r.permission: r for r in storage.check("az://other-container/raw/a.txt")}
    assert not rows["url"].ok and "belongs to container 'other-container'" in rows["url"].detail


def test_check_empty_prefix(azure_config_factory: Any) -> None:
    rows = {r.permission: r for r in AzureStorage(azure_config_factory(prefix="none/")).check()}
    assert rows["List Blobs"].ok and "listed 0 blob(s)" in rows["List Blobs"].detail
    assert (
        not rows["Get Blob Properties"].ok and "pass a blob name" in rows["Get Blob Properties"].fix
    )


def test_unreachable_endpoint(azure_config_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azclients, "RETRY_TOTAL", 0)
    token = "se=2099-01-01&sp=rl&sv=2024-01-01&sig=TOPSECRETSIG"
    store = AzureStorage(
        azure_config_factory(
            account_url="http://127.0.0.1:9/devstoreaccount1", auth=_sas_auth(token)
        )
    )
    with pytest.raises(StorageError) as info:
        store.head("k")
    assert (info.value.code, info.value.transient) == ("Network", True)
    assert "talking to http://127.0.0.1:9" in str(info.value)
    assert "TOPSECRETSIG" not in str(info.value) and info.value.__context__ is None
    rows = {r.permission: r for r in store.check("k")}
    assert not rows["List Blobs"].ok and rows["List Blobs"].fix.startswith("endpoint unreachable")


# -- CORS ---------------------------------------------------------------------------------------


def test_check_cors(storage: AzureStorage, azure_container: Any) -> None:
    origin = "https://app.example.com"
    azure_container.service.set_service_properties(cors=[])
    missing = storage.check_cors([origin])
    assert not missing.ok and missing.fix.startswith(f"add CORS rule for origin {origin}")
    rule = storage.setup_guide([origin])["cors"][0]
    azure_container.service.set_service_properties(
        cors=[
            CorsRule(
                rule["allowedOrigins"],
                rule["allowedMethods"],
                allowed_headers=rule["allowedHeaders"],
                exposed_headers=rule["exposedHeaders"],
                max_age_in_seconds=rule["maxAgeInSeconds"],
            )
        ]
    )
    try:
        assert storage.check_cors([origin]).ok
    finally:
        azure_container.service.set_service_properties(cors=[])


# -- error mapping ------------------------------------------------------------------------------


def _http_error(status: int, code: str, cls: type[HttpResponseError] = HttpResponseError) -> Any:
    exc = cls(message=f"failed url http://h/c?sig=LEAKED {code}")
    exc.status_code = status
    exc.error_code = code
    return exc


@pytest.mark.parametrize(
    ("status", "provider", "expected", "transient"),
    [
        (404, "BlobNotFound", "NotFound", False),
        (404, "ContainerNotFound", "NotFound", False),
        (403, "AuthenticationFailed", "Auth", False),
        (401, "InvalidAuthenticationInfo", "Auth", False),
        (403, "AuthorizationPermissionMismatch", "AccessDenied", False),
        (403, "AuthorizationFailure", "AccessDenied", False),
        (403, "AuthorizationResourceTypeMismatch", "AccessDenied", False),
        (403, "KeyBasedAuthenticationNotPermitted", "AccessDenied", False),
        (416, "InvalidRange", "InvalidRange", False),
        (429, "TooManyRequests", "Throttled", True),
        (503, "ServerBusy", "Throttled", True),
        (500, "InternalError", "ServerError", True),
        (500, "OperationTimedOut", "ServerError", True),
        (400, "InvalidQueryParameterValue", "Error", False),
    ],
)
def test_http_error_mapping(status: int, provider: str, expected: str, transient: bool) -> None:
    err = to_storage_error(_http_error(status, provider), "GetBlob", "https://a/c/b")
    assert (err.code, err.transient) == (expected, transient)
    assert str(err) == f"https://a/c/b: GetBlob {expected} ({status} {provider})"
    assert "LEAKED" not in str(err)


def test_error_mapping_other_kinds() -> None:
    missing = to_storage_error(
        _http_error(404, "BlobNotFound", ResourceNotFoundError), "GetBlobProperties", "u"
    )
    assert str(missing) == "u: GetBlobProperties NotFound (404 BlobNotFound)"
    bare = _http_error(404, "")
    assert str(to_storage_error(bare, "X", "u")) == "u: X NotFound (404)"
    secret_url = "http://127.0.0.1:9/devstoreaccount1/c?sv=1&sig=LEAKED"
    for exc in (
        ServiceRequestError(f"Max retries exceeded with url: {secret_url}"),
        ServiceResponseError(f"Connection reset: {secret_url}"),
    ):
        err = to_storage_error(exc, "ListBlobs", "u", endpoint=secret_url)
        assert (err.code, err.transient) == ("Network", True)
        assert "LEAKED" not in str(err) and "talking to http://127.0.0.1:9)" in str(err)
    token = to_storage_error(ClientAuthenticationError("secret=LEAKED"), "ListBlobs", "u")
    assert (token.code, token.transient) == ("Auth", False) and "LEAKED" not in str(token)
    same = StorageError("x", code="NotFound")
    assert to_storage_error(same, "X", "u") is same


# -- setup guide --------------------------------------------------------------------------------


def test_setup_guide() -> None:
    guide = _public().setup_guide(["https://app.example.com"], max_age=600)
    assert guide["sas"]["services"] == "b"
    assert guide["sas"]["resource_types"] == "co"
    assert guide["sas"]["permissions"] == "rl"
    assert "canonical URLs" in guide["sas"]["notes"]
    account = (
        "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/acct"
    )
    assert guide["rbac"] == [
        {
            "role": "Storage Blob Data Reader",
            "assignee": "<SERVICE_PRINCIPAL_OBJECT_ID>",
            "scope": f"{account}/blobServices/default/containers/photos",
        },
        {
            "role": "Storage Blob Delegator",
            "assignee": "<SERVICE_PRINCIPAL_OBJECT_ID>",
            "scope": account,
            "why": "to sign URLs with a user delegation key",
        },
    ]
    assert guide["cors"] == [
        {
            "allowedOrigins": ["https://app.example.com"],
            "allowedMethods": ["GET", "HEAD"],
            "allowedHeaders": ["*"],
            "exposedHeaders": ["Content-Length", "Content-Range", "Accept-Ranges", "ETag"],
            "maxAgeInSeconds": 600,
        }
    ]
    with pytest.raises(ValueError):
        _public().setup_guide([])


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_never_shown(
    azure_config_factory: Any, azure_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    azure_container.put("a.txt", b"abc")
    token = azure_container.sas(expiry=_in(days=2))
    store = AzureStorage(azure_config_factory(auth=_sas_auth(token)))
    assert [o.key for o in store.list()] == ["a.txt"]
    with pytest.raises(StorageError) as missing:
        store.head("missing.txt")
    tampered = AzureStorage(azure_config_factory(auth=_sas_auth(_tamper(token))))
    with pytest.raises(StorageError) as denied:
        tampered.head("a.txt")

    key_store = AzureStorage(azure_config_factory())
    sp_store = _public(auth=_sp_auth())
    resources = [
        AzureIntegrationResource.from_config(s.config) for s in (store, key_store, sp_store)
    ]
    resources.append(
        AzureIntegrationResource.from_config(azure_config_factory(auth="connection_string"))
    )
    texts = [repr(store), str(store), repr(key_store), repr(sp_store), repr(sp_store.credential)]
    texts += [str(missing.value), str(denied.value)]
    texts += [repr(r) for r in resources] + [str(r) for r in resources]
    texts += [json.dumps(r.safe_metadata()) for r in resources]
    texts += [f"{r.detail} {r.fix}" for r in store.check("missing.txt")]
    texts += [f"{r.detail} {r.fix}" for r in tampered.check()]
    records = [r.getMessage() for r in caplog.records]
    assert any("Request URL" in m for m in records)  # the HTTP logging policy did log
    for text in [*texts, *records]:
        assert "sig=" not in text
        assert _sig(token) not in text
        assert ACCOUNT_KEY not in text
        assert SECRET not in text


# -- Dagster resource ---------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["account_key", "connection_string", "sas"])
def test_resource_round_trips(auth: str, azure_config_factory: Any, azure_container: Any) -> None:
    azure_container.put("raw/a.txt", b"abc")
    cfg = azure_config_factory(auth=auth, prefix="raw/")
    resource = AzureIntegrationResource.from_config(cfg)
    assert resource.to_config() == cfg
    store = resource.get_storage()
    assert store is resource.get_storage()
    with resource.get_client() as client:
        assert client is store.service
    assert store.head("raw/a.txt").size == 3
    assert resource.safe_metadata()["auth"] == cfg.auth.method


def test_resource_service_principal_and_errors() -> None:
    cfg = _public(auth=_sp_auth(authority_host="https://login.microsoftonline.us")).config
    resource = AzureIntegrationResource.from_config(cfg)
    assert resource.to_config() == cfg
    assert resource.safe_metadata()["client_id"] == cfg.auth.client_id
    base = {"integration_name": "acme", "account_url": PUBLIC_URL, "container": "photos"}
    with pytest.raises(ConfigError, match="exactly one"):
        AzureIntegrationResource(**base).to_config()
    with pytest.raises(ConfigError, match="exactly one") as info:
        AzureIntegrationResource(
            **base, connection_string=f"AccountKey={SECRET}", client_secret=SECRET
        ).to_config()
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError, match="needs tenant_id, client_id"):
        AzureIntegrationResource(**base, client_secret=SECRET).to_config()
    with pytest.raises(ConfigError, match="name"):
        AzureIntegrationResource.from_config(cfg).model_copy(
            update={"integration_name": "bad name!"}
        ).to_config()


def test_resource_in_dagster_asset(azure_config_factory: Any, azure_container: Any) -> None:
    from dagster import asset, materialize_to_memory

    azure_container.put("raw/a.txt", b"abcd")

    @asset
    def blob_size(azure_integration: AzureIntegrationResource) -> int:
        return azure_integration.get_storage().head("raw/a.txt").size

    cfg = azure_config_factory(auth="connection_string", prefix="raw/")
    resource = AzureIntegrationResource.from_config(cfg)
    result = materialize_to_memory([blob_size], resources={"azure_integration": resource})
    assert result.success and result.output_for_node("blob_size") == 4
