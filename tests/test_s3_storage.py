"""S3Storage and S3IntegrationResource against a moto server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from orchestration_pkg.core.config import AccessKeyAuth, AssumeRoleAuth, S3IntegrationConfig
from orchestration_pkg.core.errors import StorageError, UrlError
from orchestration_pkg.core.providers.s3 import storage as s3mod
from orchestration_pkg.core.providers.s3.errors import to_storage_error
from orchestration_pkg.core.providers.s3.storage import S3Storage
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.resources import S3IntegrationResource
from tests.fixtures.moto_server import moto_client

SECRET = "SUPERSECRETsupersecretSUPERSECRET0123456"
ROLE_ARN = "arn:aws:iam::123456789012:role/catalog-reader"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def storage(s3_bucket: Any, s3_config_factory: Any) -> S3Storage:
    return S3Storage(s3_config_factory(prefix="raw/"))


def _client_error(code: str, status: int, op: str = "GetObject") -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, op)


def _expires(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])


def _fetch(url: str) -> bytes:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


# -- basics -------------------------------------------------------------------------------------


def test_is_a_storage_with_attributes(storage: S3Storage, s3_bucket: Any) -> None:
    assert isinstance(storage, Storage)
    assert (storage.name, storage.provider, storage.bucket, storage.prefix) == (
        "acme",
        "s3",
        s3_bucket.name,
        "raw/",
    )
    assert storage.canonical_url("raw/a b.jpg") == f"s3://{s3_bucket.name}/raw/a b.jpg"
    assert storage.client is storage.client


def test_client_config(storage: S3Storage) -> None:
    cfg = storage.client.meta.config
    assert cfg.signature_version == "s3v4"
    # botocore's own retries are off: core/retry.py's one policy retries every request.
    assert cfg.retries == {"mode": "standard", "total_max_attempts": 1}
    assert storage.retry_policy.max_attempts == 4
    assert (cfg.connect_timeout, cfg.read_timeout, cfg.max_pool_connections) == (5, 30, 32)
    assert cfg.s3 == {"addressing_style": "path"}
    assert storage.client.meta.region_name == "us-east-1"


# -- list ---------------------------------------------------------------------------------------


def test_list_paginates_past_1000_keys(storage: S3Storage, s3_bucket: Any) -> None:
    keys = [f"raw/many/{i:05d}.txt" for i in range(1050)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda k: s3_bucket.put(k, b"x"), keys))
    s3_bucket.put("other/outside.txt", b"x")
    s3_bucket.put("raw/top.txt", b"hello")
    pages: list[int] = []
    storage.client.meta.events.register("after-call.s3.ListObjectsV2", lambda **kw: pages.append(1))

    listed = list(storage.list(prefix="many/"))

    assert [o.key for o in listed] == keys
    assert len(pages) == 2
    assert listed[0].size == 1 and listed[0].etag and '"' not in listed[0].etag
    assert listed[0].last_modified is not None
    assert {o.key for o in storage.list()} == {*keys, "raw/top.txt"}


def test_list_start_after(storage: S3Storage, s3_bucket: Any) -> None:
    for name in ("a", "b", "c", "d"):
        s3_bucket.put(f"raw/{name}.txt", name)
    assert [o.key for o in storage.list(start_after="raw/b.txt")] == ["raw/c.txt", "raw/d.txt"]


def test_list_missing_bucket(s3_config_factory: Any) -> None:
    store = S3Storage(s3_config_factory(bucket="test-no-such-bucket"))
    with pytest.raises(StorageError) as info:
        list(store.list())
    assert info.value.code == "NotFound" and not info.value.transient
    assert "ListObjectsV2 NotFound (404 NoSuchBucket)" in str(info.value)


# -- head / read_range / open_stream ------------------------------------------------------------


def test_head_found_and_missing(storage: S3Storage, s3_bucket: Any) -> None:
    s3_bucket.put("raw/img.png", b"\x89PNG....", content_type="image/png")
    info = storage.head("raw/img.png")
    assert (info.key, info.size, info.content_type) == ("raw/img.png", 8, "image/png")
    assert info.etag and not info.etag.startswith('"')
    with pytest.raises(StorageError) as missing:
        storage.head("raw/nope.png")
    assert missing.value.code == "NotFound" and missing.value.transient is False
    assert str(missing.value) == f"s3://{s3_bucket.name}/raw/nope.png: HeadObject NotFound (404)"


def test_read_range(storage: S3Storage, s3_bucket: Any) -> None:
    body = bytes(range(256)) * 4
    s3_bucket.put("raw/blob.bin", body, content_type="application/octet-stream")

    first = storage.read_range("raw/blob.bin", 0, 10)
    assert first.data == body[:10]
    assert first.info.size == 1024 and first.info.content_type == "application/octet-stream"
    assert first.info.etag and '"' not in first.info.etag

    last = storage.read_range("raw/blob.bin", 1000, 100)
    assert last.data == body[1000:] and len(last.data) == 24 and last.info.size == 1024

    with pytest.raises(StorageError) as beyond:
        storage.read_range("raw/blob.bin", 5000, 10)
    assert beyond.value.code == "InvalidRange"
    with pytest.raises(ValueError):
        storage.read_range("raw/blob.bin", 0, 0)


def test_read_range_zero_byte_object(storage: S3Storage, s3_bucket: Any) -> None:
    s3_bucket.put("raw/empty.txt", b"", content_type="text/plain")
    read = storage.read_range("raw/empty.txt", 0, 64)
    assert read.data == b""
    assert (read.info.size, read.info.content_type) == (0, "text/plain")


def test_read_range_missing(storage: S3Storage) -> None:
    with pytest.raises(StorageError) as info:
        storage.read_range("raw/missing", 0, 10)
    assert info.value.code == "NotFound"
    assert "GetObject NotFound (404 NoSuchKey)" in str(info.value)


def test_open_stream_streams(storage: S3Storage, s3_bucket: Any) -> None:
    body = b"".join(f"line {i}\n".encode() for i in range(50_000))
    s3_bucket.put("raw/manifest.csv", body)
    stream = storage.open_stream("raw/manifest.csv")
    try:
        head = stream.read(10)
        assert head == body[:10]
        assert stream.tell() == 10  # only what we asked for has been consumed
        assert head + stream.read() == body
    finally:
        stream.close()


# -- sign ---------------------------------------------------------------------------------------


def test_sign_clamps_ttl(storage: S3Storage) -> None:
    assert _expires(storage.sign("raw/a.txt", ttl_seconds=60)) == 900
    assert _expires(storage.sign("raw/a.txt", ttl_seconds=10 * 86400)) == 86400
    assert _expires(storage.sign("raw/a.txt")) == 3600


def test_signed_url_fetches_and_encodes(storage: S3Storage, s3_bucket: Any) -> None:
    key = "raw/my file ü.txt"
    s3_bucket.put(key, b"payload")
    url = storage.sign(key)
    assert "/raw/my%20file%20%C3%BC.txt?" in url
    assert "X-Amz-Signature=" in url
    assert _fetch(url) == b"payload"
    assert storage.parse_url(url) == key


def test_sign_reuses_client(storage: S3Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    client = storage.client
    monkeypatch.setattr(storage.session, "client", lambda *a, **k: pytest.fail("new client"))
    storage.sign("raw/a")
    storage.sign("raw/b")
    assert storage.client is client


# -- parse_url ----------------------------------------------------------------------------------


def _regional(region: str | None = "eu-west-1", prefix: str = "raw/") -> S3Storage:
    return S3Storage(
        S3IntegrationConfig(name="acme", bucket="y-bucket", prefix=prefix, region=region)
    )


def test_parse_url_accepts() -> None:
    store = _regional()
    assert store.parse_url("s3://y-bucket/raw/a.jpg") == "raw/a.jpg"
    url = "https://y-bucket.s3.eu-west-1.amazonaws.com/raw/file%202.jpg"
    assert store.parse_url(url) == "raw/file 2.jpg"
    assert _regional(region=None).parse_url(url.replace("eu-west-1", "ap-south-1"))
    assert _regional(prefix="").parse_url("s3://y-bucket/anything") == "anything"


def test_parse_url_on_endpoint(storage: S3Storage, s3_bucket: Any) -> None:
    url = f"{s3_bucket.endpoint}/{s3_bucket.name}/raw/x%20y.png"
    assert storage.parse_url(url) == "raw/x y.png"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "s3://x-bucket/raw/a.jpg",
            "belongs to bucket 'x-bucket', but integration 'acme' reads bucket 'y-bucket'",
        ),
        ("s3://y-bucket/cooked/a.jpg", "key is outside the integration prefix 'raw/'"),
        ("https://y-bucket.s3.us-west-2.amazonaws.com/raw/a.jpg", "region 'us-west-2'"),
        ("ftp://y-bucket/raw/a.jpg", "unsupported scheme"),
    ],
)
def test_parse_url_rejects(url: str, expected: str) -> None:
    with pytest.raises(UrlError) as info:
        _regional().parse_url(url)
    assert expected in info.value.reason


# -- assume_role --------------------------------------------------------------------------------


def _role_config(
    factory: Any, endpoint: str, retry: dict | None = None, **auth: Any
) -> S3IntegrationConfig:
    iam = moto_client(endpoint, "iam")
    try:
        iam.create_role(RoleName="catalog-reader", AssumeRolePolicyDocument=json.dumps(TRUST))
    except ClientError as exc:  # role kept from an earlier test of the session
        assert exc.response["Error"]["Code"] == "EntityAlreadyExists"
    values = {"external_id": "ext-1234", "session_name": "acme-sync", **auth}
    return factory(
        prefix="raw/",
        auth=AssumeRoleAuth(method="assume_role", role_arn=ROLE_ARN, **values),
        retry=retry or {},
    )


def test_assume_role_lists_and_heads(s3_bucket: Any, s3_config_factory: Any) -> None:
    cfg = _role_config(
        s3_config_factory, s3_bucket.endpoint, access_key_id="base", secret_access_key="base"
    )
    s3_bucket.put("raw/a.txt", b"abc")
    store = S3Storage(cfg)
    expected = {
        "RoleArn": ROLE_ARN,
        "RoleSessionName": "acme-sync",
        "ExternalId": "ext-1234",
        "DurationSeconds": 3600,
    }
    assert store.assume_role_params() == expected

    assert [o.key for o in store.list()] == ["raw/a.txt"]
    assert store.head("raw/a.txt").size == 3
    assert store.last_sts_params == expected

    creds = store.credentials()
    assert isinstance(creds, RefreshableCredentials)
    assert creds.method == "sts-assume-role"
    assert creds.get_frozen_credentials().access_key != "base"


def test_assume_role_refreshes_before_expiry(s3_bucket: Any, s3_config_factory: Any) -> None:
    store = S3Storage(_role_config(s3_config_factory, s3_bucket.endpoint))  # default chain
    s3_bucket.put("raw/a.txt", b"abc")
    store.head("raw/a.txt")
    creds = store.credentials()
    store.last_sts_params = None
    creds._expiry_time = datetime.now(timezone.utc) + timedelta(seconds=30)  # nearly expired
    assert store.head("raw/a.txt").size == 3
    assert store.last_sts_params and store.last_sts_params["ExternalId"] == "ext-1234"


def test_assume_role_params_needs_assume_role(storage: S3Storage) -> None:
    with pytest.raises(ValueError):
        storage.assume_role_params()


# -- error mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "expected", "transient"),
    [
        ("AccessDenied", 403, "AccessDenied", False),
        ("403", 403, "AccessDenied", False),
        ("NoSuchKey", 404, "NotFound", False),
        ("404", 404, "NotFound", False),
        ("NoSuchBucket", 404, "NotFound", False),
        ("ServiceUnavailable", 503, "Throttled", True),
        ("SlowDown", 503, "Throttled", True),
        ("ThrottlingException", 400, "Throttled", True),
        ("RequestLimitExceeded", 400, "Throttled", True),
        ("InternalError", 500, "ServerError", True),
        ("InvalidRange", 416, "InvalidRange", False),
        ("InvalidAccessKeyId", 403, "Auth", False),
        ("SignatureDoesNotMatch", 403, "Auth", False),
        ("ExpiredToken", 400, "Auth", False),
        ("BadDigest", 400, "Error", False),
    ],
)
def test_client_error_mapping(code: str, status: int, expected: str, transient: bool) -> None:
    err = to_storage_error(_client_error(code, status), "GetObject", "s3://b/k")
    assert (err.code, err.transient) == (expected, transient)
    assert str(err).startswith(f"s3://b/k: GetObject {expected} (")


def test_head_404_message_format() -> None:
    err = to_storage_error(_client_error("404", 404, "HeadObject"), "HeadObject", "s3://b/k")
    assert str(err) == "s3://b/k: HeadObject NotFound (404)"


def test_network_error_mapping_hides_query_strings() -> None:
    signed = "http://user:pw@127.0.0.1:9/b/k?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA"
    for exc in (
        EndpointConnectionError(endpoint_url=signed),
        ReadTimeoutError(endpoint_url=signed),
    ):
        err = to_storage_error(exc, "GetObject", "s3://b/k")
        assert (err.code, err.transient) == ("Network", True)
        assert "deadbeef" not in str(err) and "AKIA" not in str(err) and "pw" not in str(err)
        assert "http://127.0.0.1:9" in str(err)


def test_unreachable_endpoint(s3_config_factory: Any) -> None:
    one_try = {"max_attempts": 1}
    store = S3Storage(s3_config_factory(endpoint_url="http://127.0.0.1:9", retry=one_try))
    with pytest.raises(StorageError) as info:
        store.head("k")
    assert (info.value.code, info.value.transient) == ("Network", True)
    rows = {row.permission: row for row in store.check("k")}
    assert not rows["s3:ListBucket"].ok
    assert rows["s3:ListBucket"].fix.startswith("endpoint unreachable")
    # Nothing could be listed, so whether objects exist is unknown: say why, truthfully.
    untried = [r for r in store.check() if r.skipped]
    assert [r.detail for r in untried] == ["not tried: s3:ListBucket failed"] * 2


# -- check --------------------------------------------------------------------------------------


def test_check_all_pass(storage: S3Storage, s3_bucket: Any) -> None:
    s3_bucket.put("raw/a.txt", b"abc")
    rows = storage.check()
    assert [r.permission for r in rows] == [
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:GetObject (HeadObject)",
        "s3:GetObject (ranged GetObject)",
        "sign (local)",
    ]
    assert all(r.ok for r in rows), rows
    assert "listed 1 key(s)" in rows[0].detail
    assert "us-east-1" in rows[1].detail
    assert all(r.ok for r in storage.check(f"s3://{s3_bucket.name}/raw/a.txt"))


def test_check_assume_role(s3_bucket: Any, s3_config_factory: Any) -> None:
    s3_bucket.put("raw/zero", b"")
    store = S3Storage(_role_config(s3_config_factory, s3_bucket.endpoint))
    rows = store.check("raw/zero")
    assert rows[0].permission == "sts:AssumeRole" and rows[0].ok
    assert all(r.ok for r in rows), rows
    assert store.last_sts_params and store.last_sts_params["ExternalId"] == "ext-1234"


def test_check_assume_role_unreachable_sts(s3_bucket: Any, s3_config_factory: Any) -> None:
    store = S3Storage(
        _role_config(
            s3_config_factory,
            s3_bucket.endpoint,
            retry={"max_attempts": 1},
            sts_endpoint_url="http://127.0.0.1:9",
        )
    )
    rows = store.check()
    assert rows[0].permission == "sts:AssumeRole" and not rows[0].ok
    assert "AssumeRole Network" in rows[0].detail and rows[0].fix.startswith("endpoint unreachable")
    assert [r.ok for r in rows[1:]] == [False] * 4
    assert all(r.detail == "not tried: sts:AssumeRole failed" for r in rows[1:])
    with pytest.raises(StorageError) as info:
        store.head("raw/a.txt")
    assert info.value.code == "Network" and ROLE_ARN in str(info.value)


def test_given_session_is_used(s3_bucket: Any, s3_config_factory: Any) -> None:
    session = boto3.Session(
        aws_access_key_id="given", aws_secret_access_key="given", region_name="us-east-1"
    )
    store = S3Storage(s3_config_factory(), session=session)
    assert store.session is session
    assert store.credentials().access_key == "given"
    assert list(store.list()) == []


def test_check_missing_bucket(s3_config_factory: Any) -> None:
    store = S3Storage(s3_config_factory(bucket="test-missing-bucket", prefix="raw/"))
    rows = {r.permission: r for r in store.check("raw/a.txt")}
    listing = rows["s3:ListBucket"]
    assert not listing.ok
    assert "NoSuchBucket" in listing.detail and listing.fix.startswith("NoSuchBucket:")
    assert not rows["s3:GetObject (HeadObject)"].ok
    assert rows["sign (local)"].ok


def test_check_missing_key(storage: S3Storage, s3_bucket: Any) -> None:
    s3_bucket.put("raw/a.txt", b"abc")
    rows = {r.permission: r for r in storage.check("raw/nope.txt")}
    assert rows["s3:ListBucket"].ok
    for name in ("s3:GetObject (HeadObject)", "s3:GetObject (ranged GetObject)"):
        assert not rows[name].ok and "NotFound" in rows[name].detail
        assert "check the key" in rows[name].fix


def test_check_empty_prefix_and_bad_url(storage: S3Storage) -> None:
    rows = {r.permission: r for r in storage.check()}
    assert rows["s3:ListBucket"].ok and "listed 0 key(s)" in rows["s3:ListBucket"].detail
    assert not rows["s3:GetObject (HeadObject)"].ok
    assert "pass a key" in rows["s3:GetObject (HeadObject)"].fix
    rows = {r.permission: r for r in storage.check("s3://other-bucket/raw/a.txt")}
    assert not rows["url"].ok and "belongs to bucket 'other-bucket'" in rows["url"].detail


def test_check_region_mismatch(s3_config_factory: Any) -> None:
    store = S3Storage(s3_config_factory(region="eu-west-1"))
    rows = {r.permission: r for r in store.check()}
    assert not rows["s3:GetBucketLocation"].ok
    assert rows["s3:GetBucketLocation"].fix == "set region: us-east-1"


@pytest.mark.parametrize(
    ("permission", "code", "status", "fix"),
    [
        (
            s3mod.P_LIST,
            "AccessDenied",
            403,
            "AccessDenied: add s3:ListBucket on arn:aws:s3:::bkt"
            " with condition s3:prefix = 'raw/*'",
        ),
        (s3mod.P_HEAD, "403", 403, "403: add s3:GetObject on arn:aws:s3:::bkt/raw/*"),
        (
            s3mod.P_GET,
            "AccessDenied",
            403,
            "AccessDenied: add s3:GetObject on arn:aws:s3:::bkt/raw/*",
        ),
        (
            s3mod.P_LIST,
            "InvalidAccessKeyId",
            403,
            "InvalidAccessKeyId: check the access key / secret",
        ),
        (s3mod.P_HEAD, "SignatureDoesNotMatch", 403, "SignatureDoesNotMatch: check the access key"),
        (s3mod.P_LIST, "ExpiredToken", 400, "ExpiredToken: the session token expired"),
        (
            s3mod.P_ASSUME,
            "AccessDenied",
            403,
            "AccessDenied: check the role trust policy and the ExternalId",
        ),
    ],
)
def test_fix_texts(permission: str, code: str, status: int, fix: str) -> None:
    auth = AssumeRoleAuth(method="assume_role", role_arn=ROLE_ARN, external_id="e")
    store = S3Storage(S3IntegrationConfig(name="acme", bucket="bkt", prefix="raw/", auth=auth))
    err = to_storage_error(_client_error(code, status), "X", "s3://bkt/raw/k")
    assert store.fix_for(permission, err).startswith(fix)


# -- policies -----------------------------------------------------------------------------------


def test_iam_policy_with_and_without_prefix() -> None:
    with_prefix = _regional().iam_policy()
    listing, objects, location = with_prefix["Statement"]
    assert listing["Action"] == "s3:ListBucket" and listing["Resource"] == "arn:aws:s3:::y-bucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["raw/", "raw/*"]}}
    assert objects == {
        "Sid": "ReadIntegrationObjects",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::y-bucket/raw/*",
    }
    assert location["Action"] == "s3:GetBucketLocation"
    assert location["Resource"] == "arn:aws:s3:::y-bucket"

    bare = _regional(prefix="").iam_policy()
    assert "Condition" not in bare["Statement"][0]
    assert bare["Statement"][1]["Resource"] == "arn:aws:s3:::y-bucket/*"


def test_trust_policy_external_id() -> None:
    principal = "arn:aws:iam::111122223333:user/catalog"
    placeholder = _regional().trust_policy(principal)["Statement"][0]
    assert placeholder["Principal"] == {"AWS": principal}
    assert placeholder["Action"] == "sts:AssumeRole"
    assert placeholder["Condition"] == {"StringEquals": {"sts:ExternalId": "<external-id>"}}
    auth = AssumeRoleAuth(method="assume_role", role_arn=ROLE_ARN, external_id="ext-9")
    store = S3Storage(S3IntegrationConfig(name="acme", bucket="y-bucket", auth=auth))
    condition = store.trust_policy(principal)["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {"sts:ExternalId": "ext-9"}}


def test_cors_config_is_accepted_by_s3(storage: S3Storage, s3_bucket: Any) -> None:
    cors = storage.cors_config(["https://app.example.com"], max_age=600)
    rule = cors["CORSRules"][0]
    assert rule["AllowedMethods"] == ["GET", "HEAD"] and rule["MaxAgeSeconds"] == 600
    assert rule["ExposeHeaders"] == ["ETag", "Content-Length", "Content-Range", "Accept-Ranges"]
    s3_bucket.client.put_bucket_cors(Bucket=s3_bucket.name, CORSConfiguration=cors)
    stored = s3_bucket.client.get_bucket_cors(Bucket=s3_bucket.name)["CORSRules"][0]
    assert stored["AllowedOrigins"] == ["https://app.example.com"]
    with pytest.raises(ValueError):
        storage.cors_config([])


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_never_shown(
    s3_bucket: Any, s3_config_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orchestration_pkg")
    auth = AccessKeyAuth(
        method="access_key",
        access_key_id="AKIATESTKEY",
        secret_access_key=SECRET,
        session_token="TOKEN" + SECRET,
    )
    cfg = s3_config_factory(prefix="raw/", auth=auth)
    store = S3Storage(cfg)
    resource = S3IntegrationResource.from_config(cfg)
    url = store.sign("raw/missing.txt")
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]

    errors = []
    for call in (lambda: store.head("raw/missing.txt"), lambda: store.read_range("raw/m", 0, 1)):
        with pytest.raises(StorageError) as info:
            call()
        errors.append(str(info.value))
    texts = [repr(store), repr(resource), str(resource), *errors, caplog.text]
    texts += [f"{r.detail} {r.fix}" for r in store.check("raw/missing.txt")]
    texts.append(json.dumps(resource.safe_metadata()))
    for text in texts:
        assert SECRET not in text
        assert signature not in text
        assert "X-Amz-" not in text
    assert "AKIATESTKEY" not in repr(resource)


# -- Dagster resource ---------------------------------------------------------------------------


def test_resource_from_config_reads_moto(s3_bucket: Any, s3_config_factory: Any) -> None:
    s3_bucket.put("raw/a.txt", b"abc")
    cfg = s3_config_factory(prefix="raw/")
    resource = S3IntegrationResource.from_config(cfg)
    assert resource.to_config() == cfg
    store = resource.get_storage()
    assert store is resource.get_storage()
    assert resource.get_client() is store.client
    assert store.head("raw/a.txt").size == 3


def test_resource_round_trips_assume_role(s3_config_factory: Any, s3_bucket: Any) -> None:
    cfg = _role_config(
        s3_config_factory,
        s3_bucket.endpoint,
        access_key_id="base",
        secret_access_key=SECRET,
        sts_endpoint_url=s3_bucket.endpoint,
    )
    resource = S3IntegrationResource.from_config(cfg)
    assert resource.to_config() == cfg
    assert "ext-1234" not in repr(resource) and SECRET not in repr(resource)
    assert resource.safe_metadata()["role_arn"] == ROLE_ARN


def test_resource_default_auth_and_errors() -> None:
    plain = S3IntegrationResource(integration_name="acme", bucket="y-bucket", profile_name="p")
    assert plain.to_config().auth.method == "default"
    assert plain.to_config().auth.profile == "p"
    no_external = S3IntegrationResource(
        integration_name="acme", bucket="y-bucket", role_arn=ROLE_ARN
    )
    with pytest.raises(Exception, match="external_id"):
        no_external.to_config()
    half_keys = S3IntegrationResource(
        integration_name="acme", bucket="y-bucket", aws_secret_access_key=SECRET
    )
    with pytest.raises(Exception, match="both") as info:
        half_keys.to_config()
    assert SECRET not in str(info.value)
    bad_name = S3IntegrationResource(integration_name="bad name!", bucket="y-bucket")
    with pytest.raises(Exception, match="name") as info:
        bad_name.to_config()


def test_resource_in_dagster_asset(s3_bucket: Any, s3_config_factory: Any) -> None:
    from dagster import asset, materialize_to_memory

    s3_bucket.put("raw/a.txt", b"abcd")

    @asset
    def object_size(s3_integration: S3IntegrationResource) -> int:
        return s3_integration.get_storage().head("raw/a.txt").size

    resource = S3IntegrationResource.from_config(s3_config_factory(prefix="raw/"))
    result = materialize_to_memory([object_size], resources={"s3_integration": resource})
    assert result.success and result.output_for_node("object_size") == 4
