"""FastPresigner: byte for byte botocore's presigned GET URLs, and valid on a real server."""

from __future__ import annotations

import time
import urllib.request
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.auth
import pytest
from botocore.config import Config

from orchestration_pkg.core.config import AccessKeyAuth, S3IntegrationConfig
from orchestration_pkg.core.providers.s3.presign import FastPresigner
from orchestration_pkg.core.providers.s3.storage import S3Storage

AWKWARD_KEYS = [
    "plain.jpg",
    "a b/c d.jpg",
    "plus+sign.png",
    "üñí/cødé 東京.jpg",
    "~tilde/!*'();:@&=$,?#[]%20.jpg",
    "deep/" * 20 + "x.jpg",
]


def _client(endpoint: str | None, region: str, token: str | None, path_style: bool) -> Any:
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"} if path_style else {})
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        config=config,
    )


class _FrozenDatetime(datetime):
    """``datetime`` whose utcnow()/now() are one fixed instant (botocore's timestamp)."""

    @classmethod
    def utcnow(cls) -> datetime:  # type: ignore[override]
        return datetime(2026, 1, 2, 3, 4, 5)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz or timezone.utc)


@pytest.mark.parametrize(
    ("endpoint", "region", "bucket", "token", "path_style"),
    [
        ("http://127.0.0.1:9000", "us-east-1", "my-bucket", None, True),
        ("http://127.0.0.1:9000", "eu-central-1", "my-bucket", "tok/+=session", True),
        (None, "us-east-1", "my-bucket", None, False),
        (None, "eu-central-1", "my.dotted.bucket", "tok", False),
        (None, "ap-southeast-2", "bkt", None, False),
    ],
)
def test_same_url_as_botocore(
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str | None,
    region: str,
    bucket: str,
    token: str | None,
    path_style: bool,
) -> None:
    client = _client(endpoint, region, token, path_style)
    presigner = FastPresigner(client, bucket, lambda: client._request_signer._credentials)
    assert not presigner.uses_botocore  # the self-check against botocore passed
    monkeypatch.setattr(botocore.auth.datetime, "datetime", _FrozenDatetime)
    monkeypatch.setattr(time, "time", lambda: 1767323045.0)  # 2026-01-02T03:04:05Z
    for key in AWKWARD_KEYS:
        expected = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=900
        )
        assert "X-Amz-Date=20260102T030405Z" in expected
        assert presigner.presign(key, 900) == expected, key


def test_unusual_layout_falls_back_to_botocore() -> None:
    class Odd:
        def generate_presigned_url(self, op: str, Params: dict[str, str], ExpiresIn: int) -> str:
            return f"https://odd.example/{Params['Key']}?x-id=GetObject&X-Amz-Signature=abc"

    presigner = FastPresigner(Odd(), "b", lambda: None)
    assert presigner.uses_botocore
    assert presigner.presign("k", 60) == "https://odd.example/k?x-id=GetObject&X-Amz-Signature=abc"


def test_storage_sign_clamps_and_the_url_fetches_the_object(s3_bucket: Any) -> None:
    s3_bucket.put("raw/a b+é.txt", b"hello")
    storage = S3Storage(
        S3IntegrationConfig(
            name="acme",
            bucket=s3_bucket.name,
            endpoint_url=s3_bucket.endpoint,
            auth=AccessKeyAuth(
                method="access_key", access_key_id="testing", secret_access_key="testing"
            ),
        )
    )
    url = storage.sign("raw/a b+é.txt", 60)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["900"]  # clamped up to 15 min
    short = storage.sign("raw/a b+é.txt", 60, min_ttl=60)
    assert parse_qs(urlsplit(short).query)["X-Amz-Expires"] == ["60"]
    assert parse_qs(urlsplit(storage.sign("x", 10, min_ttl=1)).query)["X-Amz-Expires"] == ["60"]
    with urllib.request.urlopen(short, timeout=10) as response:
        assert response.read() == b"hello"


def test_rotated_credentials_and_a_new_day_are_signed_with_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-second and per-day parts are cached, but the credentials are asked for on every
    URL: rotated keys (refreshable / assumed-role credentials) sign the very next URL."""
    first = _client(None, "eu-west-1", "tok-1", False)
    second = boto3.client(
        "s3",
        region_name="eu-west-1",
        aws_access_key_id="AKIDROTATED",
        aws_secret_access_key="rotated-secret",
        aws_session_token="tok-2",
        config=Config(signature_version="s3v4"),
    )
    current = [first]
    presigner = FastPresigner(first, "bkt", lambda: current[0]._request_signer._credentials)
    assert not presigner.uses_botocore
    monkeypatch.setattr(botocore.auth.datetime, "datetime", _FrozenDatetime)
    monkeypatch.setattr(time, "time", lambda: 1767323045.0)

    def expected(client: Any, key: str) -> str:
        params = {"Bucket": "bkt", "Key": key}
        return str(client.generate_presigned_url("get_object", Params=params, ExpiresIn=300))

    assert presigner.presign("a b.jpg", 300) == expected(first, "a b.jpg")
    current[0] = second
    rotated = presigner.presign("a b.jpg", 300)
    assert "AKIDROTATED" in rotated and "tok-2" in rotated
    assert rotated == expected(second, "a b.jpg")
    current[0] = first
    assert presigner.presign("x.jpg", 300) == expected(first, "x.jpg")

    class _NextDay(_FrozenDatetime):
        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return datetime(2026, 1, 3, 3, 4, 5)

        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime(2026, 1, 3, 3, 4, 5, tzinfo=tz or timezone.utc)

    monkeypatch.setattr(botocore.auth.datetime, "datetime", _NextDay)
    monkeypatch.setattr(time, "time", lambda: 1767323045.0 + 86_400)
    assert presigner.presign("x.jpg", 300) == expected(first, "x.jpg")  # new day, new key
