"""Cloud Storage object URLs, as accepted by :func:`parse_gcs_url`:

* ``gs://bucket/key`` — the key is taken literally (no percent-decoding);
* path style ``https://storage.googleapis.com/bucket/key`` and the browser download host
  ``https://storage.cloud.google.com/bucket/key``;
* virtual-hosted ``https://bucket.storage.googleapis.com/key``;
* JSON API ``https://storage.googleapis.com/[download/]storage/v1/b/bucket/o/key``;
* with ``endpoint_url`` (emulator, private endpoint): ``ENDPOINT/bucket/key`` and
  ``ENDPOINT/[download/]storage/v1/b/bucket/o/key``.

In http(s) URLs the key must be percent-encoded UTF-8 (spaces as ``%20``, never ``+``); a query
string (signed URL, ``alt=media``) is allowed and ignored. Messages show URLs only through
:func:`~orchestration_pkg.core.urls.redact_url`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from orchestration_pkg.core.errors import UrlError
from orchestration_pkg.core.urls import (
    check_key_size,
    check_url_characters,
    decode_url_key,
    url_error,
    url_port,
    url_scheme,
)

MAX_KEY_BYTES = 1024

_BUCKET_CHARS = re.compile(r"^[a-z0-9._-]+$")
_IPV4_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.storage\.googleapis\.com$")
_PATH_HOSTS = ("storage.googleapis.com", "storage.cloud.google.com")
_JSON_API_PATH = re.compile(r"^/(?:download/)?storage/v1/b/(?P<bucket>[^/]+)/o/(?P<key>.+)$")


@dataclass(frozen=True)
class GCSLocation:
    """Where an object lives: bucket, decoded key and the URL form (gs/path/virtual/json/
    endpoint)."""

    bucket: str
    key: str
    style: str


def validate_gcs_bucket_name(name: str) -> None:
    """Raise ``UrlError(field="bucket")`` unless ``name`` follows the GCS bucket naming rules."""
    reason = _bucket_problem(name)
    if reason:
        raise UrlError(f"invalid bucket name {name[:70]!r}: {reason}", "bucket")


def _bucket_problem(name: str) -> str | None:
    parts = name.split(".")
    if not 3 <= len(name) <= (222 if len(parts) > 1 else 63):
        return "must be 3 to 63 characters long (222 with dots)"
    if not _BUCKET_CHARS.match(name):
        return "only lowercase letters, digits, dots, hyphens and underscores are allowed"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must begin and end with a letter or digit"
    if any(not 1 <= len(part) <= 63 for part in parts):
        return "each dot-separated part must be 1 to 63 characters long"
    if _IPV4_LIKE.match(name):
        return "must not look like an IP address"
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return "must not start with 'goog' or contain 'google'"
    return None


def parse_gcs_url(url: str, *, endpoint_url: str | None = None) -> GCSLocation:
    """Parse a Cloud Storage object URL into a :class:`GCSLocation`; ``UrlError`` if not one.

    ``endpoint_url`` (e.g. an emulator's ``http://127.0.0.1:9023``) additionally accepts URLs
    on that server (style ``"endpoint"``).
    """
    scheme = url_scheme(
        url,
        "gs",
        expected="gs://bucket/key or https://storage.googleapis.com/bucket/key",
        hint="gs://bucket/key or an https GCS URL",
    )
    if scheme == "gs":
        return _parse_gs_scheme(url)
    return _parse_http(url, endpoint_url)


def _parse_gs_scheme(url: str) -> GCSLocation:
    """``gs://bucket/key``: the key is literal, nothing is decoded."""
    bucket, _, key = url.partition("://")[2].partition("/")
    if not bucket:
        raise url_error(url, "no bucket in gs:// URL", "bucket")
    validate_gcs_bucket_name(bucket)
    _check_key(url, key)
    return GCSLocation(bucket=bucket, key=key, style="gs")


def _parse_http(url: str, endpoint_url: str | None) -> GCSLocation:
    check_url_characters(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise url_error(url, "malformed URL") from None
    if "@" in parts.netloc:
        raise url_error(url, "user name or password in the URL is not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise url_error(url, "no host in URL")
    endpoint = _endpoint_location(url, parts, endpoint_url)
    if endpoint is not None:
        return endpoint
    if host == _PATH_HOSTS[0]:
        return _api_or_path(url, parts.path, "path", json_api=True)
    if host in _PATH_HOSTS:
        return _api_or_path(url, parts.path, "path", json_api=False)
    match = _VIRTUAL_HOST.match(host)
    if match:
        return _located(url, match["bucket"], parts.path[1:], "virtual")
    raise url_error(
        url,
        f"host {parts.netloc} is not a Cloud Storage endpoint; use gs://bucket/key or the "
        "integration's endpoint_url",
    )


def _endpoint_location(
    url: str, parts: SplitResult, endpoint_url: str | None
) -> GCSLocation | None:
    """Parse ``url`` against ``endpoint_url``; ``None`` if the URL is not on that endpoint."""
    if not endpoint_url:
        return None
    end = urlsplit(endpoint_url)
    if (end.hostname or "").lower() != (parts.hostname or "").lower() or not end.hostname:
        return None
    if parts.scheme.lower() != end.scheme.lower() or url_port(parts) != url_port(end):
        return None
    base = end.path.rstrip("/")
    if base and not (parts.path == base or parts.path.startswith(base + "/")):
        return None
    return _api_or_path(url, parts.path[len(base) :], "endpoint", json_api=True)


def _api_or_path(url: str, path: str, style: str, *, json_api: bool) -> GCSLocation:
    """``/storage/v1/b/BUCKET/o/KEY`` (JSON API, if allowed) or ``/BUCKET/KEY``."""
    match = _JSON_API_PATH.match(path) if json_api else None
    if match:
        return _located(url, match["bucket"], match["key"], "json" if style == "path" else style)
    bucket, _, raw_key = path[1:].partition("/") if path.startswith("/") else ("", "", "")
    if not bucket:
        raise url_error(url, "no bucket in URL path (expected /bucket/key)", "bucket")
    return _located(url, bucket, raw_key, style)


def _located(url: str, bucket: str, raw_key: str, style: str) -> GCSLocation:
    validate_gcs_bucket_name(bucket)
    key = decode_url_key(url, raw_key)
    _check_key(url, key)
    return GCSLocation(bucket=bucket, key=key, style=style)


def _check_key(url: str, key: str) -> None:
    """GCS object names: 1..1024 UTF-8 bytes, no CR/LF, not '.' or '..'."""
    check_key_size(url, key, provider="GCS", max_bytes=MAX_KEY_BYTES)
    if "\r" in key or "\n" in key:
        raise url_error(url, "object key contains a carriage return or line feed", "key")
    if key in (".", ".."):
        raise url_error(url, "object key must not be '.' or '..'", "key")
