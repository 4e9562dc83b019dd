"""S3 URL parsing, checks and building (pure functions, no network)."""

from __future__ import annotations

import pytest

from orchestration_pkg.core.errors import UrlError
from orchestration_pkg.core.providers.s3.urls import (
    S3Location,
    parse_s3_url,
    s3_https_url,
    validate_bucket_name,
)
from orchestration_pkg.core.urls import encode_key_for_url, redact_url

MINIO = "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://photos/a/b.jpg", S3Location("photos", "a/b.jpg", None, "s3")),
        ("s3://photos/my cat.jpg", S3Location("photos", "my cat.jpg", None, "s3")),
        ("s3://photos/file%202.jpg", S3Location("photos", "file%202.jpg", None, "s3")),
        ("s3://photos/a+b?c#d.jpg", S3Location("photos", "a+b?c#d.jpg", None, "s3")),
        ("S3://photos/café.jpg", S3Location("photos", "café.jpg", None, "s3")),
        (
            "https://photos.s3.eu-central-1.amazonaws.com/file.jpg",
            S3Location("photos", "file.jpg", "eu-central-1", "virtual"),
        ),
        (
            "https://photos.s3.amazonaws.com/dir/file%202.jpg",
            S3Location("photos", "dir/file 2.jpg", "us-east-1", "virtual"),
        ),
        (
            "https://photos.s3-eu-west-1.amazonaws.com/caf%C3%A9.jpg",
            S3Location("photos", "café.jpg", "eu-west-1", "virtual"),
        ),
        (
            "https://my.photos.s3.dualstack.us-west-2.amazonaws.com/a%2Bb.jpg",
            S3Location("my.photos", "a+b.jpg", "us-west-2", "virtual"),
        ),
        (
            "https://photos.s3.cn-north-1.amazonaws.com.cn/k",
            S3Location("photos", "k", "cn-north-1", "virtual"),
        ),
        (
            "https://s3.ap-southeast-2.amazonaws.com/photos/a/b%20c.png",
            S3Location("photos", "a/b c.png", "ap-southeast-2", "path"),
        ),
        (
            "https://s3.amazonaws.com/photos/k.png",
            S3Location("photos", "k.png", "us-east-1", "path"),
        ),
        (
            "https://s3-us-gov-west-1.amazonaws.com/photos/k.png",
            S3Location("photos", "k.png", "us-gov-west-1", "path"),
        ),
        (
            "HTTPS://PHOTOS.S3.EU-WEST-1.AMAZONAWS.COM/Key.JPG",
            S3Location("photos", "Key.JPG", "eu-west-1", "virtual"),
        ),
    ],
)
def test_parse_aws_and_s3_forms(url: str, expected: S3Location) -> None:
    assert parse_s3_url(url) == expected


def test_presigned_query_is_ignored_for_the_key() -> None:
    url = (
        "https://photos.s3.eu-west-1.amazonaws.com/a%20b.jpg"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=secret123#frag"
    )
    assert parse_s3_url(url) == S3Location("photos", "a b.jpg", "eu-west-1", "virtual")


def test_double_slashes_and_encoded_slash_stay_in_the_key() -> None:
    assert parse_s3_url("https://photos.s3.amazonaws.com//a//b%2Fc").key == "/a//b/c"
    assert parse_s3_url("s3://photos//a").key == "/a"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{MINIO}/photos/a%20b.jpg", S3Location("photos", "a b.jpg", None, "endpoint")),
        (
            "http://127.0.0.1:9000/photos/k?X-Amz-Signature=x",
            S3Location("photos", "k", None, "endpoint"),
        ),
    ],
)
def test_endpoint_path_style(url: str, expected: S3Location) -> None:
    assert parse_s3_url(url, endpoint_url=MINIO) == expected


def test_endpoint_virtual_host_needs_a_dns_name() -> None:
    endpoint = "http://minio.internal:9000/"
    assert parse_s3_url("http://photos.minio.internal:9000/a.jpg", endpoint_url=endpoint) == (
        S3Location("photos", "a.jpg", None, "endpoint")
    )
    assert parse_s3_url("http://minio.internal:9000/photos/a.jpg", endpoint_url=endpoint) == (
        S3Location("photos", "a.jpg", None, "endpoint")
    )
    with pytest.raises(UrlError, match="not an S3 endpoint"):
        parse_s3_url("http://photos.127.0.0.1:9000/a.jpg", endpoint_url=MINIO)


def test_endpoint_with_path_prefix_and_default_port() -> None:
    endpoint = "https://storage.example.org/s3"
    loc = parse_s3_url("https://storage.example.org:443/s3/photos/k.jpg", endpoint_url=endpoint)
    assert loc == S3Location("photos", "k.jpg", None, "endpoint")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9001/photos/k",  # other port
        "https://127.0.0.1:9000/photos/k",  # other scheme
        "http://10.0.0.1:9000/photos/k",  # other host
    ],
)
def test_endpoint_must_match_scheme_host_and_port(url: str) -> None:
    with pytest.raises(UrlError, match="is not an S3 endpoint"):
        parse_s3_url(url, endpoint_url=MINIO)


def test_endpoint_urls_are_rejected_without_endpoint() -> None:
    with pytest.raises(UrlError) as err:
        parse_s3_url(f"{MINIO}/photos/k")
    assert err.value.reason.startswith("host 127.0.0.1:9000 is not an S3 endpoint; use s3://")


def test_aws_urls_still_parse_with_an_endpoint() -> None:
    loc = parse_s3_url("https://photos.s3.amazonaws.com/k", endpoint_url=MINIO)
    assert loc.style == "virtual"


@pytest.mark.parametrize(
    ("url", "field", "needle"),
    [
        ("https://photos.s3.amazonaws.com/my cat.jpg", "key", "encode spaces as %20"),
        ("https://photos.s3.amazonaws.com/café.jpg", "key", "not percent-encoded"),
        ("https://photos.s3.amazonaws.com/a+b.jpg", "key", "'+' is ambiguous"),
        ("https://photos.s3.amazonaws.com/a%zz.jpg", "key", "bad percent-escape"),
        ("https://photos.s3.amazonaws.com/a%2", "key", "bad percent-escape"),
        ("https://photos.s3.amazonaws.com/a%FF.jpg", "key", "do not decode to UTF-8"),
        ("https://photos.s3.amazonaws.com/a\tb", "key", "control character"),
        ("https://photos.s3.amazonaws.com/", "key", "no object key"),
        ("https://photos.s3.amazonaws.com", "key", "no object key"),
        ("s3://photos/", "key", "no object key"),
        ("s3://photos", "key", "no object key"),
        ("s3:///key", "bucket", "no bucket"),
        ("https://s3.amazonaws.com/", "bucket", "no bucket"),
        ("https://s3.amazonaws.com/photos", "key", "no object key"),
        ("https://example.com/photos/a.jpg", "url", "host example.com is not an S3 endpoint"),
        ("https://photos.s3-website-us-east-1.amazonaws.com/a", "url", "not an S3 endpoint"),
        ("gs://photos/a.jpg", "url", "unsupported scheme 'gs'"),
        ("ftp://photos/a.jpg", "url", "unsupported scheme"),
        ("photos/a.jpg", "url", "not a URL"),
        ("", "url", "empty"),
        (" s3://photos/a.jpg", "url", "leading or trailing whitespace"),
        ("https://user:pw@photos.s3.amazonaws.com/a", "url", "user name or password"),
        ("s3://Photos/a.jpg", "bucket", "lowercase"),
    ],
)
def test_rejected_urls(url: str, field: str, needle: str) -> None:
    with pytest.raises(UrlError) as err:
        parse_s3_url(url)
    assert err.value.field == field
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_non_string_url() -> None:
    with pytest.raises(UrlError, match="must be a string"):
        parse_s3_url(123)  # type: ignore[arg-type]


def test_key_length_limit_counts_utf8_bytes() -> None:
    assert len(parse_s3_url("s3://photos/" + "a" * 1024).key) == 1024
    with pytest.raises(UrlError, match="1025 bytes"):
        parse_s3_url("s3://photos/" + "a" * 1025)
    with pytest.raises(UrlError, match="1026 bytes"):
        parse_s3_url("s3://photos/" + "é" * 513)
    encoded = "https://photos.s3.amazonaws.com/" + "%C3%A9" * 513
    with pytest.raises(UrlError) as err:
        parse_s3_url(encoded)
    assert len(str(err.value)) < 400  # long URLs are shortened in messages


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.jpg?X-Amz-Signature=secret123",
        "https://photos.s3.amazonaws.com/a b.jpg?X-Amz-Signature=secret123",
        "https://photos.s3.amazonaws.com/a+b.jpg?X-Amz-Signature=secret123",
        "https://photos.s3.amazonaws.com/?X-Amz-Signature=secret123",
        "https://Bad_Bucket.s3.amazonaws.com/k?X-Amz-Signature=secret123",
        "https://photos.s3.amazonaws.com/k%zz#X-Amz-Signature=secret123",
        "https://user:secret123@photos.s3.amazonaws.com/k",
        f"{MINIO}/photos/a%zz?X-Amz-Signature=secret123",
    ],
)
def test_errors_never_show_query_fragment_or_credentials(url: str) -> None:
    with pytest.raises(UrlError) as err:
        parse_s3_url(url, endpoint_url="http://127.0.0.1:9999")
    assert "secret123" not in str(err.value)
    assert "secret123" not in err.value.reason


def test_redact_url() -> None:
    assert (
        redact_url("https://u:p@photos.s3.amazonaws.com/a%20b.jpg?X-Amz-Signature=s#f")
        == "https://photos.s3.amazonaws.com/a%20b.jpg"
    )
    assert redact_url("s3://photos/k") == "s3://photos/k"
    assert redact_url("not a url?token=1") == "not a url"
    assert redact_url("http://127.0.0.1:9000/b/k?x=1") == "http://127.0.0.1:9000/b/k"


@pytest.mark.parametrize(
    "name",
    ["abc", "my-bucket.example", "a" * 63, "1bucket", "bucket-1.2"],
)
def test_valid_bucket_names(name: str) -> None:
    validate_bucket_name(name)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("My-Bucket", "lowercase"),
        ("my_bucket", "lowercase"),
        ("-bucket", "begin and end"),
        ("bucket-", "begin and end"),
        (".bucket", "begin and end"),
        ("my..bucket", "adjacent dots"),
        ("192.168.5.4", "IP address"),
        ("xn--bucket", "'xn--'"),
        ("sthree-bucket", "'sthree-'"),
        ("amzn-s3-demo-bucket", "'amzn-s3-demo-'"),
        ("bucket-s3alias", "'-s3alias'"),
        ("bucket--ol-s3", "'--ol-s3'"),
        ("bucket--x-s3", "'--x-s3'"),
        ("bucket.mrap", "'.mrap'"),
    ],
)
def test_invalid_bucket_names(name: str, needle: str) -> None:
    with pytest.raises(UrlError) as err:
        validate_bucket_name(name)
    assert err.value.field == "bucket"
    assert needle in str(err.value)


def test_parse_validates_the_bucket_of_every_form() -> None:
    for url in (
        "s3://my..bucket/k",
        "https://my..bucket.s3.amazonaws.com/k",
        "https://s3.amazonaws.com/my..bucket/k",
        f"{MINIO}/my..bucket/k",
    ):
        with pytest.raises(UrlError) as err:
            parse_s3_url(url, endpoint_url=MINIO)
        assert err.value.field == "bucket"


def test_encode_key_for_url() -> None:
    assert encode_key_for_url("dir/my file+1~x.jpg") == "dir/my%20file%2B1~x.jpg"
    assert encode_key_for_url("café/ü.png") == "caf%C3%A9/%C3%BC.png"
    assert encode_key_for_url("a?b#c%d") == "a%3Fb%23c%25d"


def test_s3_https_url() -> None:
    assert s3_https_url("photos", "a b.jpg", None) == "https://photos.s3.amazonaws.com/a%20b.jpg"
    assert (
        s3_https_url("photos", "café.jpg", "eu-west-1")
        == "https://photos.s3.eu-west-1.amazonaws.com/caf%C3%A9.jpg"
    )
    assert s3_https_url("photos", "k", "cn-north-1") == (
        "https://photos.s3.cn-north-1.amazonaws.com.cn/k"
    )


@pytest.mark.parametrize("key", ["a b/c+d.jpg", "café/naïve ü.png", "x?y#z%20.txt", "~/a//b"])
@pytest.mark.parametrize("region", [None, "eu-west-1"])
def test_built_urls_parse_back(key: str, region: str | None) -> None:
    loc = parse_s3_url(s3_https_url("photos", key, region))
    assert (loc.bucket, loc.key, loc.region) == ("photos", key, region or "us-east-1")
    endpoint_url = f"{MINIO}/photos/{encode_key_for_url(key)}"
    assert parse_s3_url(endpoint_url, endpoint_url=MINIO).key == key
