"""URL helpers every provider shares: redaction, percent-decoding rules, key size, ports.

Provider URL parsing lives in each provider package (``core/providers/<name>/urls.py``). Error
messages never show the query string, fragment or user info: every URL in a message goes
through :func:`redact_url`.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, unquote, unquote_to_bytes, urlsplit

from orchestration_pkg.core.errors import UrlError

_SHOWN_MAX = 200
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def redact_url(url: str) -> str:
    """``url`` without query string, fragment and user info (safe to log or show)."""
    text = str(url)
    for mark in ("?", "#"):
        text = text.split(mark, 1)[0]
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    netloc, slash, path = rest.partition("/")
    netloc = netloc.rsplit("@", 1)[-1]
    return f"{scheme}{sep}{netloc}{slash}{path}"


def shown_url(url: str) -> str:
    """``url`` without query, fragment and user info, shortened: safe for messages."""
    text = redact_url(url)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def url_error(url: str, reason: str, field: str = "url") -> UrlError:
    """``UrlError`` saying ``reason`` about ``url`` (shown redacted and shortened)."""
    return UrlError(f"{reason} ({shown_url(url)})", field)


def check_url_string(url: object) -> None:
    """Reject what is not a non-empty string without surrounding white space."""
    if not isinstance(url, str):
        raise UrlError(f"URL must be a string, not {type(url).__name__}")
    if not url.strip():
        raise UrlError("URL is empty")
    if url != url.strip():
        raise url_error(url, "URL has leading or trailing whitespace")


def check_url_characters(url: str) -> None:
    """Reject characters that must be percent-encoded before the query string of a URL."""
    for char in re.split(r"[?#]", url, maxsplit=1)[0]:
        if char == " ":
            raise url_error(url, "URL is not percent-encoded: encode spaces as %20", "key")
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise url_error(url, "URL contains a control character: percent-encode it", "key")
        if ord(char) > 0x7E:
            raise url_error(
                url,
                "URL is not percent-encoded: encode non-ASCII characters as UTF-8 "
                "(e.g. é as %C3%A9)",
                "key",
            )


def decode_url_key(url: str, raw_key: str, *, noun: str = "key") -> str:
    """Percent-decode the key part of an http(s) URL path (UTF-8, strict).

    ``noun`` names the key in messages (``"blob name"`` for Azure). Length rules are the
    provider's: see :func:`check_key_size`.
    """
    if "+" in raw_key:
        raise url_error(url, "'+' is ambiguous: encode a space as %20 and a plus as %2B", "key")
    if _BAD_ESCAPE.search(raw_key):
        raise url_error(
            url, f"bad percent-escape in {noun}: '%' must be followed by two hex digits", "key"
        )
    try:
        return unquote_to_bytes(raw_key).decode("utf-8")
    except UnicodeDecodeError:
        raise url_error(url, f"percent-escapes in {noun} do not decode to UTF-8", "key") from None


def check_key_size(url: str, key: str, *, provider: str, max_bytes: int) -> None:
    """Reject an empty object key, one longer than ``max_bytes`` UTF-8 bytes, one holding
    a NUL character (no catalog column can store it) or a dot segment."""
    if not key:
        raise url_error(url, "no object key in URL", "key")
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise url_error(
            url, f"object key is {size} bytes long; {provider} allows {max_bytes}", "key"
        )
    if "\x00" in key:
        raise url_error(url, "object key contains a NUL character (%00)", "key")
    check_no_dot_segments(url, key)


def check_no_dot_segments(url: str, path: str, noun: str = "object key") -> None:
    """Reject a ``.`` or ``..`` path segment (also percent-encoded): browsers, proxies and some
    servers resolve them, so ``prefix/../other`` would leave the integration's prefix."""
    for segment in path.split("/"):
        if segment in (".", "..") or unquote(segment) in (".", ".."):
            raise url_error(url, f"{noun} has a '.' or '..' path segment", "key")


def url_port(parts: SplitResult) -> int | None:
    """The URL's port, the scheme's default when none is written, ``None`` if malformed."""
    try:
        port = parts.port
    except ValueError:
        return None
    return port if port is not None else _DEFAULT_PORTS.get(parts.scheme.lower())


def encode_key_for_url(key: str) -> str:
    """Percent-encode an object key for an http(s) URL path (UTF-8; ``/`` and ``~`` kept)."""
    return quote(key, safe="/~")


def safe_endpoint(url: str | None) -> str:
    """``scheme://host[:port]`` of ``url``: no user info, path or (signed) query string."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return "the endpoint"
    if not parts.hostname:
        return "the endpoint"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def check_in_scope(
    integration: str,
    noun: str,
    found: str,
    expected: str,
    key: str,
    prefix: str,
    *,
    key_noun: str = "key",
    where: str = "",
) -> None:
    """``UrlError`` unless the URL's bucket/container ``found`` is ``expected`` and ``key`` lies
    under the integration ``prefix`` (``where`` adds e.g. " of account 'x'")."""
    if found != expected:
        raise UrlError(
            f"belongs to {noun} '{found}'{where}, but integration '{integration}' "
            f"reads {noun} '{expected}'"
        )
    if not key.startswith(prefix):
        raise UrlError(f"{key_noun} is outside the integration prefix '{prefix}'")


def url_scheme(url: str, native: str, *, expected: str, hint: str) -> str:
    """The lower-cased scheme of ``url``: ``native`` (e.g. ``s3``), ``http`` or ``https``;
    otherwise a ``UrlError`` saying what was ``expected`` / what to use (``hint``)."""
    check_url_string(url)
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise url_error(url, f"not a URL: expected {expected}")
    scheme = scheme.lower()
    if scheme not in (native, "http", "https"):
        raise url_error(url, f"unsupported scheme {scheme[:20]!r}: use {hint}")
    return scheme
