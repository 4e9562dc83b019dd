"""Direct-access URLs: the syntax and ``url_prefixes`` checks, and pre-signed URL expiry.

The object "key" is the URL exactly as written in the manifest, query string included; only
:func:`~orchestration_pkg.core.urls.redact_url` forms (no query) are stored or shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

from orchestration_pkg.core.netguard import url_syntax_problem
from orchestration_pkg.core.urls import (
    check_no_dot_segments,
    check_url_string,
    redact_url,
    url_error,
)

_AMZ_DATE = "%Y%m%dT%H%M%SZ"


def parse_direct_url(url: str, url_prefixes: list[str]) -> str:
    """``url`` itself, after syntax and ``url_prefixes`` checks (``UrlError``); no network."""
    check_url_string(url)
    problem = url_syntax_problem(url)
    if problem:
        raise url_error(url, problem)
    _check_parts(url)
    check_no_dot_segments(url, urlsplit(url).path, "URL path")
    if url_prefixes and not any(_has_prefix(redact_url(url), p) for p in url_prefixes):
        shown = ", ".join(redact_url(p) for p in url_prefixes)
        raise url_error(url, f"URL is not under the integration's url_prefixes ({shown})")
    return url


def _check_parts(url: str) -> None:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise url_error(url, "direct access URLs must be http:// or https://")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise url_error(url, "malformed host or port") from None
    if "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]:
        raise url_error(url, "user name or password in the URL is not allowed")
    if not parts.hostname:
        raise url_error(url, "no host in URL")


def _has_prefix(shown: str, prefix: str) -> bool:
    """``shown`` starts with ``prefix``; a bare ``scheme://host`` prefix ends at the host."""
    prefix = redact_url(prefix)
    if "/" not in prefix.partition("://")[2]:
        prefix += "/"  # https://files.example.com must not match files.example.com.evil.net
    return shown.startswith(prefix)


@dataclass(frozen=True)
class UrlExpiry:
    """When a pre-signed URL stops working, and which signing scheme says so."""

    expires_at: datetime
    scheme: str

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(timezone.utc)) >= self.expires_at

    def describe(self, now: datetime | None = None) -> str:
        now = now or datetime.now(timezone.utc)
        when = self.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        if self.expired(now):
            ago = _span(now - self.expires_at)
            return f"{self.scheme} pre-signed URL expired at {when} ({ago} ago)"
        return f"{self.scheme} pre-signed URL expires at {when} (in {_span(self.expires_at - now)})"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def presigned_expiry(url: str) -> UrlExpiry | None:
    """Expiry of a pre-signed URL from its query (S3 SigV4, GCS V4, Azure SAS, CloudFront)."""
    query = url.split("#", 1)[0].partition("?")[2]
    params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    try:
        if "x-amz-date" in params and "x-amz-expires" in params:
            return _dated(params["x-amz-date"], params["x-amz-expires"], "AWS SigV4")
        if "x-goog-date" in params and "x-goog-expires" in params:
            return _dated(params["x-goog-date"], params["x-goog-expires"], "GCS V4")
        if "se" in params and "sig" in params:
            return UrlExpiry(_iso_utc(params["se"]), "Azure SAS")
        if "expires" in params:
            moment = datetime.fromtimestamp(int(params["expires"]), timezone.utc)
            return UrlExpiry(moment, "CloudFront / legacy signed URL")
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _dated(date: str, expires: str, scheme: str) -> UrlExpiry:
    start = datetime.strptime(date, _AMZ_DATE).replace(tzinfo=timezone.utc)
    return UrlExpiry(start + timedelta(seconds=int(expires)), scheme)


def _iso_utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
