"""S3 object URLs: parse the forms users write into (bucket, key, region), and build them back.

Accepted forms:

* ``s3://bucket/key`` — the key is taken literally (no percent-decoding);
* virtual-hosted ``https://bucket.s3[.dualstack|-fips].REGION.amazonaws.com/key``,
  ``https://bucket.s3.amazonaws.com/key`` (region ``us-east-1``) and the legacy
  ``https://bucket.s3-REGION.amazonaws.com/key``;
* path-style ``https://s3.REGION.amazonaws.com/bucket/key`` and ``https://s3.amazonaws.com/...``;
* with ``endpoint_url`` (MinIO, moto, ...): ``http://host:port/bucket/key`` and, when the
  endpoint host is a DNS name, ``http://bucket.host:port/key``.

In http(s) URLs the key must be percent-encoded UTF-8 (spaces as ``%20``, never ``+``). A query
string (pre-signed URL) is allowed and ignored.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from orchestration_pkg.core.errors import UrlError
from orchestration_pkg.core.urls import (
    check_key_size,
    check_url_characters,
    decode_url_key,
    encode_key_for_url,
    url_error,
    url_port,
    url_scheme,
)

MAX_KEY_BYTES = 1024
DEFAULT_REGION = "us-east-1"

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_AWS_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?"
    r"(?P<service>s3|s3-fips|s3-external-1|s3-accelerate)"
    r"(?P<dualstack>\.dualstack)?"
    rf"(?:[.-](?P<region>{_REGION}))?"
    r"\.amazonaws\.com(?P<china>\.cn)?$"
)
_BUCKET_CHARS = re.compile(r"^[a-z0-9.-]+$")
_IPV4_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", ".mrap")


@dataclass(frozen=True)
class S3Location:
    """Where an object lives: bucket, decoded key, region if the URL says, and the URL form."""

    bucket: str
    key: str
    region: str | None
    style: str  # "s3", "virtual", "path" or "endpoint"


def validate_bucket_name(name: str) -> None:
    """Raise ``UrlError(field="bucket")`` unless ``name`` follows the S3 bucket naming rules."""
    reason = _bucket_problem(name)
    if reason:
        raise UrlError(f"invalid bucket name {name[:70]!r}: {reason}", "bucket")


def _bucket_problem(name: str) -> str | None:
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET_CHARS.match(name):
        return "only lowercase letters, digits, dots and hyphens are allowed"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must begin and end with a letter or digit"
    if ".." in name:
        return "must not contain two adjacent dots"
    if _IPV4_LIKE.match(name):
        return "must not look like an IP address"
    for prefix in _BUCKET_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with {prefix!r}"
    for suffix in _BUCKET_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with {suffix!r}"
    return None


def parse_s3_url(url: str, *, endpoint_url: str | None = None) -> S3Location:
    """Parse an S3 object URL into an :class:`S3Location`; raise ``UrlError`` if it is not one.

    ``endpoint_url`` (e.g. ``http://127.0.0.1:9000``) additionally accepts URLs on that
    S3-compatible server (style ``"endpoint"``).
    """
    scheme = url_scheme(
        url,
        "s3",
        expected="s3://bucket/key or https://bucket.s3.REGION.amazonaws.com/key",
        hint="s3://bucket/key or an https S3 URL",
    )
    if scheme == "s3":
        return _parse_s3_scheme(url)
    return _parse_http(url, endpoint_url)


def _parse_s3_scheme(url: str) -> S3Location:
    """``s3://bucket/key``: the key is literal, nothing is decoded."""
    rest = url.partition("://")[2]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise url_error(url, "no bucket in s3:// URL", "bucket")
    validate_bucket_name(bucket)
    _check_key(url, key)
    return S3Location(bucket=bucket, key=key, region=None, style="s3")


def _parse_http(url: str, endpoint_url: str | None) -> S3Location:
    check_url_characters(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise url_error(url, "malformed URL") from None
    if "@" in parts.netloc:
        raise url_error(url, "user name or password in the URL is not allowed")
    host = parts.hostname or ""
    if not host:
        raise url_error(url, "no host in URL")
    endpoint = _endpoint_location(url, parts, endpoint_url)
    if endpoint is not None:
        return endpoint
    match = _AWS_HOST.match(host)
    if match is None:
        shown_host = parts.netloc.rsplit("@", 1)[-1]
        raise url_error(
            url,
            f"host {shown_host} is not an S3 endpoint; use s3://bucket/key or the integration's "
            "endpoint_url",
        )
    region = _aws_region(match)
    if match["bucket"]:
        return _virtual(url, parts.path, match["bucket"], region, "virtual")
    return _path_style(url, parts.path, region, "path")


def _aws_region(match: re.Match[str]) -> str | None:
    if match["region"]:
        return match["region"]
    if match["service"] == "s3-accelerate" or match["china"]:
        return None
    return DEFAULT_REGION


def _endpoint_location(url: str, parts: SplitResult, endpoint_url: str | None) -> S3Location | None:
    """Parse ``url`` against ``endpoint_url``; ``None`` if the URL is not on that endpoint."""
    if not endpoint_url:
        return None
    end = urlsplit(endpoint_url)
    end_host = (end.hostname or "").lower()
    if not end_host or parts.scheme.lower() != end.scheme.lower():
        return None
    if url_port(parts) != url_port(end):
        return None
    host = (parts.hostname or "").lower()
    base = end.path.rstrip("/")
    if base and not (parts.path == base or parts.path.startswith(base + "/")):
        return None
    path = parts.path[len(base) :]
    if host == end_host:
        return _path_style(url, path, None, "endpoint")
    if _is_dns_name(end_host) and host.endswith("." + end_host):
        return _virtual(url, path, host[: -len(end_host) - 1], None, "endpoint")
    return None


def _is_dns_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _virtual(url: str, path: str, bucket: str, region: str | None, style: str) -> S3Location:
    validate_bucket_name(bucket)
    key = _decode_key(url, path[1:] if path.startswith("/") else path)
    return S3Location(bucket=bucket, key=key, region=region, style=style)


def _path_style(url: str, path: str, region: str | None, style: str) -> S3Location:
    bucket, _, raw_key = path[1:].partition("/") if path.startswith("/") else ("", "", "")
    if not bucket:
        raise url_error(url, "no bucket in URL path (expected /bucket/key)", "bucket")
    validate_bucket_name(bucket)
    key = _decode_key(url, raw_key)
    return S3Location(bucket=bucket, key=key, region=region, style=style)


def _decode_key(url: str, raw_key: str) -> str:
    key = decode_url_key(url, raw_key)
    _check_key(url, key)
    return key


def _check_key(url: str, key: str) -> None:
    check_key_size(url, key, provider="S3", max_bytes=MAX_KEY_BYTES)


def s3_https_url(bucket: str, key: str, region: str | None) -> str:
    """The virtual-hosted https URL of ``bucket``/``key`` (``region=None``: global endpoint)."""
    if region is None:
        host = f"{bucket}.s3.amazonaws.com"
    else:
        suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
        host = f"{bucket}.s3.{region}{suffix}"
    return f"https://{host}/{encode_key_for_url(key)}"
