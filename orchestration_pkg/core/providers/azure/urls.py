"""Azure Blob object URLs, as accepted by :func:`parse_azure_url`:

* ``https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB`` (and the other Azure clouds) —
  the blob name is percent-decoded UTF-8, with the same rules as S3 https URLs: no raw spaces,
  no raw non-ASCII, no raw ``+`` (ambiguous: write a space as ``%20`` and a plus as ``%2B``);
* any URL under the integration's ``account_url`` (emulators such as
  ``http://127.0.0.1:10000/devstoreaccount1/CONTAINER/BLOB``, private endpoints);
* ``az://CONTAINER/BLOB`` and ``azure://CONTAINER/BLOB`` — the blob name is taken literally.

A query string (a SAS) is accepted, ignored and never echoed: the catalog stores canonical
URLs only, which is why rotating the SAS token keeps every registered file valid.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from orchestration_pkg.core.errors import UrlError
from orchestration_pkg.core.urls import (
    check_no_dot_segments,
    check_url_characters,
    check_url_string,
    decode_url_key,
    encode_key_for_url,
    redact_url,
    url_error,
)

MAX_BLOB_NAME = 1024

_AZURE_HOST = re.compile(
    r"^(?P<account>[a-z0-9]+)(?:-secondary)?(?:\.privatelink)?\.blob\."
    r"(?:core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net|"
    r"core\.cloudapi\.de|storage\.azure\.net)$"
)
_CONTAINER_CHARS = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_SPECIAL_CONTAINERS = frozenset({"$root", "$web", "$logs"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AzureLocation(NamedTuple):
    """A parsed object URL: container and decoded blob name."""

    container: str
    blob: str


def normalize_account_url(account_url: str) -> str:
    """``account_url`` without query, fragment, user info and trailing slash."""
    return redact_url(account_url.strip()).rstrip("/")


def account_name_of(account_url: str) -> str:
    """The storage account name: the first path segment of emulator-style URLs
    (``http://127.0.0.1:10000/devstoreaccount1``), else the first label of the host."""
    parts = urlsplit(normalize_account_url(account_url))
    segment = parts.path.strip("/").split("/", 1)[0]
    if segment:
        return segment
    return (parts.hostname or "").split(".", 1)[0]


def validate_container_name(name: str) -> None:
    """Raise ``UrlError(field="container")`` unless ``name`` is a valid container name."""
    if name in _SPECIAL_CONTAINERS:
        return
    reason = None
    if not 3 <= len(name) <= 63:
        reason = "must be 3 to 63 characters long"
    elif not _CONTAINER_CHARS.match(name):
        reason = "only lowercase letters, digits and hyphens, beginning and ending alphanumeric"
    elif "--" in name:
        reason = "must not contain two adjacent hyphens"
    if reason:
        raise UrlError(f"invalid container name {name[:70]!r}: {reason}", "container")


def encode_blob_for_url(blob: str) -> str:
    """Percent-encode a blob name for an URL path (UTF-8; ``/`` and ``~`` kept), as the SDK."""
    return encode_key_for_url(blob)


def parse_azure_url(url: str, *, account_url: str | None = None) -> AzureLocation:
    """Parse an Azure Blob object URL into ``(container, blob)``; ``UrlError`` if it is not one.

    With ``account_url``, https URLs must be on that account (and URLs under ``account_url``
    itself, such as emulator URLs, are accepted).
    """
    check_url_string(url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise url_error(
            url, "not a URL: expected https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB"
        )
    if scheme in ("az", "azure"):
        container, _, blob = rest.partition("/")
        return _location(url, container, blob)
    if scheme in ("http", "https"):
        return _parse_http(url, account_url)
    raise url_error(
        url, f"unsupported scheme {scheme[:20]!r}: use az://CONTAINER/BLOB or an https blob URL"
    )


def _location(url: str, container: str, blob: str) -> AzureLocation:
    if not container:
        raise url_error(url, "no container in URL", "container")
    validate_container_name(container)
    if not blob:
        raise url_error(url, "no blob name in URL", "key")
    if len(blob) > MAX_BLOB_NAME:
        raise url_error(
            url, f"blob name is {len(blob)} characters; Azure allows {MAX_BLOB_NAME}", "key"
        )
    if "\x00" in blob:
        raise url_error(url, "blob name contains a NUL character (%00)", "key")
    check_no_dot_segments(url, blob, "blob name")
    return AzureLocation(container, blob)


def _parse_http(url: str, account_url: str | None) -> AzureLocation:
    check_url_characters(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise url_error(url, "malformed URL") from None
    if "@" in parts.netloc:
        raise url_error(url, "user name or password in the URL is not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise url_error(url, "no host in URL")
    path = _path_under(parts.scheme, host, port, parts.path, account_url)
    if path is None:
        match = _AZURE_HOST.match(host)
        if match is None:
            where = f" or under {normalize_account_url(account_url)}" if account_url else ""
            raise url_error(
                url,
                f"host {host} is not an Azure Blob endpoint (ACCOUNT.blob.core.windows.net{where})",
            )
        if account_url and match["account"] != account_name_of(account_url):
            raise url_error(
                url,
                f"is in storage account '{match['account']}', but the integration reads "
                f"account '{account_name_of(account_url)}'",
            )
        path = parts.path
    container, _, raw_blob = path.lstrip("/").partition("/")
    return _location(url, container, decode_url_key(url, raw_blob, noun="blob name"))


def _path_under(
    scheme: str, host: str, port: int | None, path: str, account_url: str | None
) -> str | None:
    """The path below ``account_url`` if the URL is on it, else ``None``."""
    if not account_url:
        return None
    base = urlsplit(normalize_account_url(account_url))
    if scheme.lower() != base.scheme.lower() or host != (base.hostname or "").lower():
        return None
    default = _DEFAULT_PORTS.get(scheme.lower())
    if (port or default) != (base.port or default):
        return None
    base_path = base.path.rstrip("/")
    if base_path and not path.startswith(base_path + "/"):
        return None
    return path[len(base_path) :]
