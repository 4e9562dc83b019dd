"""Direct access: user-supplied pre-signed or unsigned http(s) URLs, fetched as given.

The object "key" is the URL exactly as written in the manifest, query string included: a
pre-signed URL's query is sent byte-for-byte (never re-encoded) and never stored, logged or
shown. The catalog stores :meth:`DirectStorage.canonical_url` / :meth:`record_key`, the URL
without its query. Every fetch goes through :mod:`orchestration_pkg.core.netguard` (SSRF
policy, pinned connections, checked redirects). With ``strict_client_only`` nothing is ever
fetched: the manifest must carry each row's metadata.
"""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO, NoReturn
from urllib.parse import parse_qsl, urlsplit

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import run_probe
from orchestration_pkg.core.config import DirectIntegrationConfig
from orchestration_pkg.core.errors import StorageError, UrlError
from orchestration_pkg.core.models import MediaKind, MediaMetadata, ObjectInfo
from orchestration_pkg.core.netguard import (
    GuardedHttpClient,
    HttpStatusError,
    NetworkPolicy,
    url_syntax_problem,
)
from orchestration_pkg.core.storage import AccessCheck, RangeRead
from orchestration_pkg.core.urls import check_url_string, redact_url, shown_url, url_error

log = logging.getLogger(__name__)

STRICT_MESSAGE = (
    "strict client-only: this integration never fetches; the manifest must carry metadata"
)
LIST_MESSAGE = "direct access integrations cannot list; supply a manifest"
SIGN_MESSAGE = "direct access never signs: the manifest's URL is used as given"
HEAD_FALLBACK_STATUSES = frozenset({403, 405})
CORS_EXPOSE_HEADERS = ["Content-Range", "Accept-Ranges", "ETag", "Content-Length"]
MAX_PRESIGN_DAYS = 7

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``access``).
P_POLICY = "url policy (SSRF)"
P_HEAD = "HEAD"
P_GET = "ranged GET"
P_EXPIRY = "expiry"
P_STRICT = "strict client-only"
P_PROBE = "probe"

_CONTENT_RANGE = re.compile(r"bytes\s+(?:\d+-\d+|\*)/(\d+|\*)")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


def total_size(content_range: str | None) -> int | None:
    """Total object size from ``Content-Range: bytes a-b/TOTAL`` or ``bytes */TOTAL``."""
    match = _CONTENT_RANGE.match(content_range or "")
    if not match or match.group(1) == "*":
        return None
    return int(match.group(1))


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _last_modified(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    return value.removeprefix("W/").strip('"') or None


def _info(key: str, headers: Mapping[str, str], size: int | None) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=size,
        etag=_etag(headers.get("ETag")),
        content_type=headers.get("Content-Type"),
        last_modified=_last_modified(headers.get("Last-Modified")),
    )


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


def _has_prefix(shown: str, prefix: str) -> bool:
    """``shown`` starts with ``prefix``; a bare ``scheme://host`` prefix ends at the host."""
    prefix = redact_url(prefix)
    if "/" not in prefix.partition("://")[2]:
        prefix += "/"  # https://files.example.com must not match files.example.com.evil.net
    return shown.startswith(prefix)


# ---------------------------------------------------------------------------------------------
# The storage
# ---------------------------------------------------------------------------------------------


class DirectStorage:
    """``Storage`` over user-supplied URLs of a ``DirectIntegrationConfig`` (never signs)."""

    provider = "direct"

    def __init__(
        self, config: DirectIntegrationConfig, *, client: GuardedHttpClient | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.strict_client_only = config.strict_client_only
        self.policy = NetworkPolicy(config.allow_hosts)
        self._client = client

    def __repr__(self) -> str:
        return (
            f"DirectStorage(name={self.name!r}, strict_client_only={self.strict_client_only}, "
            f"allow_hosts={self.config.allow_hosts!r})"
        )

    @property
    def client(self) -> GuardedHttpClient:
        """The guarded HTTP client (built on first use; never in strict client-only mode)."""
        if self.strict_client_only:
            raise StorageError(STRICT_MESSAGE, code="StrictClientOnly")
        if self._client is None:
            self._client = GuardedHttpClient(
                self.policy,
                timeout=self.config.timeout_seconds,
                max_redirects=self.config.max_redirects,
                pool_maxsize=self.config.max_pool_connections,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- URLs -----------------------------------------------------------------------------------

    def parse_url(self, url: str) -> str:
        """``url`` itself (the key), after syntax and ``url_prefixes`` checks; no network."""
        check_url_string(url)
        problem = url_syntax_problem(url)
        if problem:
            raise url_error(url, problem)
        self._check_parts(url)
        prefixes = self.config.url_prefixes
        if prefixes and not any(_has_prefix(redact_url(url), p) for p in prefixes):
            shown = ", ".join(redact_url(p) for p in prefixes)
            raise url_error(url, f"URL is not under the integration's url_prefixes ({shown})")
        return url

    @staticmethod
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

    def canonical_url(self, key: str) -> str:
        """The URL without query (no signature), fragment or user info: what is stored."""
        return redact_url(key)

    def record_key(self, key: str) -> str:
        """The catalog's key column: the canonical URL, never a signed query string."""
        return redact_url(key)

    # -- reads ----------------------------------------------------------------------------------

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        raise StorageError(LIST_MESSAGE, code="Unsupported")

    def sign(self, key: str, ttl_seconds: int = 3600) -> str:
        raise StorageError(SIGN_MESSAGE, code="Unsupported")

    def head(self, key: str) -> ObjectInfo:
        """HEAD; a 403/405 answer (GET-only pre-signed URLs) falls back to a 1-byte GET."""
        return self._head(key)[0]

    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """``length`` bytes from ``start``; ``info.size`` is the whole object's size."""
        return self._read_range(key, start, length)[0]

    def open_stream(self, key: str) -> BinaryIO:
        """The streaming body of a GET (size-capped); the caller closes it."""
        self._require_network("GET", key)
        try:
            return self.client.stream(key)
        except HttpStatusError as err:
            self._raise_explained(err, key)

    def _require_network(self, operation: str, key: str) -> None:
        if self.strict_client_only:
            raise StorageError(
                f"{STRICT_MESSAGE} ({operation} {shown_url(key)})", code="StrictClientOnly"
            )

    def _head(self, key: str) -> tuple[ObjectInfo, str]:
        self._require_network("HEAD", key)
        try:
            headers = self.client.head(key)
        except HttpStatusError as err:
            if err.status not in HEAD_FALLBACK_STATUSES:
                self._raise_explained(err, key)
            log.debug("HEAD %s answered %d; trying a 1-byte GET", shown_url(key), err.status)
            read, _ = self._read_range(key, 0, 1)
            return read.info, f"HEAD answered {err.status}; used a 1-byte ranged GET"
        return _info(self.record_key(key), headers, _content_length(headers)), "HEAD"

    def _read_range(self, key: str, start: int, length: int) -> tuple[RangeRead, bool]:
        """The read and whether the server honoured ``Range`` (206)."""
        if start < 0 or length <= 0:
            raise ValueError("read_range needs start >= 0 and length > 0")
        self._require_network("GET", key)
        try:
            data, headers = self.client.get_range(key, start, length)
        except HttpStatusError as err:
            if err.status == 416 and self._is_empty(key, err):
                return RangeRead(b"", ObjectInfo(key=self.record_key(key), size=0)), True
            self._raise_explained(err, key)
        ranged = "Content-Range" in headers
        size = total_size(headers.get("Content-Range")) if ranged else _content_length(headers)
        return RangeRead(data, _info(self.record_key(key), headers, size)), ranged

    def _is_empty(self, key: str, err: HttpStatusError) -> bool:
        """A 416 for a zero-byte object (any range of it is unsatisfiable)."""
        total = total_size(err.headers.get("Content-Range"))
        if total is not None:
            return total == 0
        try:  # a plain HEAD: the HEAD fallback reads a range and could land here again
            return _content_length(self.client.head(key)) == 0
        except StorageError:
            return False

    def _raise_explained(self, err: HttpStatusError, key: str) -> NoReturn:
        """Re-raise ``err``, saying so when an expired pre-signed URL explains a refusal."""
        expiry = presigned_expiry(key)
        if err.status in (400, 401, 403) and expiry is not None and expiry.expired():
            raise HttpStatusError(
                f"{err}; the pre-signed URL may have expired ({expiry.describe()})",
                status=err.status,
                headers=err.headers,
                code=err.code,
                transient=err.transient,
            ) from None
        raise err

    # -- diagnostics ----------------------------------------------------------------------------

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe one URL: syntax, SSRF policy, HEAD, ranged GET and pre-signed expiry."""
        if not url_or_key:
            return self._config_rows()
        try:
            key = self.parse_url(url_or_key)
        except UrlError as err:
            rows = [AccessCheck(P_URL, False, err.reason, self._url_fix())]
            reason = "not tried: the URL was rejected"
            return rows + [AccessCheck(p, False, reason) for p in (P_POLICY, P_HEAD, P_GET)]
        rows = [AccessCheck(P_URL, True, f"{shown_url(key)} (stored as {self.record_key(key)})")]
        if self.strict_client_only:
            skipped = f"skipped: {STRICT_MESSAGE}"
            rows += [AccessCheck(p, True, skipped) for p in (P_POLICY, P_HEAD, P_GET)]
        else:
            rows.append(self._policy_row(key))
            if rows[-1].ok:
                rows.append(self._probe(P_HEAD, lambda: self._probe_head(key)))
                rows.append(self._probe(P_GET, lambda: self._probe_get(key)))
            else:
                reason = "not tried: refused by the URL policy"
                rows += [AccessCheck(p, False, reason) for p in (P_HEAD, P_GET)]
        return rows + [self._expiry_row(key)]

    def _config_rows(self) -> list[AccessCheck]:
        prefixes = ", ".join(self.config.url_prefixes) or "any http(s) URL"
        allowed = ", ".join(self.config.allow_hosts) or "public addresses only"
        rows = [
            AccessCheck(P_POLICY, True, f"accepts {prefixes}; fetches {allowed}"),
            AccessCheck("list", True, f"not applicable: {LIST_MESSAGE}"),
        ]
        if self.strict_client_only:
            rows.append(AccessCheck(P_STRICT, True, STRICT_MESSAGE))
        else:
            detail = "no URL given: pass an object URL from a manifest to probe HEAD and GET"
            rows.append(AccessCheck(P_PROBE, True, detail))
        return rows

    def _url_fix(self) -> str:
        if self.config.url_prefixes:
            return f"use a URL under one of: {', '.join(self.config.url_prefixes)}"
        return "use a percent-encoded http(s) URL, exactly as your storage signed it"

    def _policy_row(self, key: str) -> AccessCheck:
        try:
            targets = self.policy.check_url(key)
        except StorageError as err:
            return AccessCheck(P_POLICY, False, str(err), self.fix_for(P_POLICY, err))
        notes = [
            f"{t.address} ({t.problem}; allowed by allow_hosts)" if t.problem else t.address
            for t in targets
        ]
        return AccessCheck(P_POLICY, True, f"resolves to {', '.join(notes)}")

    def _probe(self, permission: str, fn: Callable[[], str]) -> AccessCheck:
        return run_probe(permission, fn, self.fix_for)

    def _probe_head(self, key: str) -> str:
        info, how = self._head(key)
        size = "unknown size" if info.size is None else f"{info.size} bytes"
        return f"{size}, {info.content_type or 'no content type'} ({how})"

    def _probe_get(self, key: str) -> str:
        read, ranged = self._read_range(key, 0, 1)
        detail = f"read {len(read.data)} byte(s) of {read.info.size}"
        if not ranged:
            detail += "; the server ignores Range (200): every read downloads from the start"
        return detail

    def _expiry_row(self, key: str) -> AccessCheck:
        expiry = presigned_expiry(key)
        if expiry is None:
            detail = "no expiry in the query: unsigned URL or unknown signing scheme"
            return AccessCheck(P_EXPIRY, True, detail)
        if expiry.expired():
            fix = (
                "generate a fresh pre-signed URL (S3 presign, GCS V4 or Azure SAS; up to "
                f"{MAX_PRESIGN_DAYS} days) and update the manifest"
            )
            return AccessCheck(P_EXPIRY, False, expiry.describe(), fix)
        return AccessCheck(P_EXPIRY, True, expiry.describe())

    def fix_for(self, permission: str, err: StorageError) -> str:
        """A concrete next step for a failed probe."""
        if err.code == "Forbidden":
            return (
                "the URL resolves to a non-public address; if it is your own storage endpoint, "
                "add its host name or CIDR to allow_hosts"
            )
        if err.code == "AccessDenied":
            return (
                "the server refused the URL: re-sign it if it expired, and check the bucket "
                "policy / CDN or IP allow-list (e.g. Cloud Armor) admits this machine"
            )
        return _FIXES.get(err.code, f"{err.code}: see detail")

    # -- setup ----------------------------------------------------------------------------------

    def setup_guide(self, origins: list[str], max_age: int = 3600) -> dict[str, Any]:
        """What the user sets up: pre-signed URLs, CORS on their origin/CDN, strict metadata."""
        if not origins:
            raise ValueError("give at least one allowed origin")
        guide: dict[str, Any] = {
            "provider": self.provider,
            "integration": self.name,
            "strict_client_only": self.strict_client_only,
            "presigning": _PRESIGN_NOTES,
            "cors": _cors(list(origins), int(max_age)),
            "network": {
                "allow_hosts": list(self.config.allow_hosts),
                "url_prefixes": list(self.config.url_prefixes),
                "notes": [
                    "URLs resolving to loopback, private, link-local (cloud metadata), CGNAT, "
                    "multicast or reserved addresses are refused unless allow_hosts lists "
                    "the host name or a CIDR containing the address",
                    "redirects are followed up to max_redirects and every hop is re-checked",
                ],
            },
        }
        if self.strict_client_only:
            guide["manifest"] = _strict_requirements()
        return guide


_FIXES = {
    "NotFound": "no object at this URL: check the path (case-sensitive) and that the URL was "
    "signed for this exact object",
    "InvalidRange": "the object is shorter than the requested range",
    "Network": "server unreachable: check DNS, firewall and proxy, or raise timeout_seconds",
    "TLS": "the certificate does not match the host name or is not trusted",
    "Throttled": "throttled by the server: transient, retry later",
    "ServerError": "server error: transient, retry later",
    "TooManyRedirects": "use the final URL in the manifest, or raise max_redirects",
    "InvalidUrl": "percent-encode the URL exactly as your storage signed it",
    "TooLarge": "the object is larger than the download limit",
    "HttpError": "unexpected HTTP answer: check the URL in a browser",
}

_PRESIGN_NOTES: dict[str, Any] = {
    "notes": [
        "direct access never signs: put ready-to-use pre-signed (or unsigned, IP-restricted) "
        "URLs in the manifest; the query string is sent exactly as written and never stored",
        f"pre-signed URLs expire: lifetimes go up to {MAX_PRESIGN_DAYS} days; re-sign and "
        "re-register before then (the catalog keeps only the URL without its query)",
        "sign GET only; HEAD is tried first and a 403/405 falls back to a 1-byte ranged GET",
    ],
    "s3": "aws s3 presign s3://BUCKET/KEY --expires-in 604800  "
    "(SigV4: at most 7 days; temporary credentials end it earlier)",
    "gcs": "gcloud storage sign-url gs://BUCKET/KEY --duration=7d "
    "--private-key-file=KEY.json  (V4 signing: at most 7 days)",
    "azure": "az storage blob generate-sas --account-name ACCOUNT --container-name CONTAINER "
    "--name BLOB --permissions r --expiry YYYY-MM-DDTHH:MMZ --https-only --full-uri "
    "--as-user --auth-mode login  (user delegation SAS: at most 7 days)",
}


def _cors(origins: list[str], max_age: int) -> dict[str, Any]:
    return {
        "notes": [
            "browsers read the objects directly: the bucket, origin server or CDN must answer "
            "CORS for these origins, on GET and HEAD, and expose the range headers",
            "a CDN in front of the bucket must forward Range and keep the query string in its "
            "cache key (signed URLs differ only there)",
        ],
        "rule": {
            "allowed_origins": origins,
            "allowed_methods": ["GET", "HEAD"],
            "allowed_headers": ["Range", "If-None-Match", "If-Modified-Since"],
            "expose_headers": list(CORS_EXPOSE_HEADERS),
            "max_age_seconds": max_age,
        },
        "s3": {
            "CORSRules": [
                {
                    "AllowedOrigins": origins,
                    "AllowedMethods": ["GET", "HEAD"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": list(CORS_EXPOSE_HEADERS),
                    "MaxAgeSeconds": max_age,
                }
            ]
        },
        "gcs": [
            {
                "origin": origins,
                "method": ["GET", "HEAD"],
                "responseHeader": ["Range", *CORS_EXPOSE_HEADERS],
                "maxAgeSeconds": max_age,
            }
        ],
        "azure": {
            "allowed_origins": ",".join(origins),
            "allowed_methods": "GET,HEAD",
            "allowed_headers": "*",
            "exposed_headers": ",".join(CORS_EXPOSE_HEADERS),
            "max_age_in_seconds": max_age,
        },
        "response_headers": {
            "Access-Control-Allow-Origin": "<the requesting origin, if in the list>",
            "Access-Control-Allow-Methods": "GET, HEAD",
            "Access-Control-Allow-Headers": "Range",
            "Access-Control-Expose-Headers": ", ".join(CORS_EXPOSE_HEADERS),
            "Access-Control-Max-Age": str(max_age),
            "Vary": "Origin",
        },
    }


def _strict_requirements() -> dict[str, Any]:
    """Per-row metadata a strict client-only manifest must carry, by media kind."""
    from orchestration_pkg.core.engine import missing_strict_metadata  # engine imports storages

    required: dict[str, Any] = {}
    for kind in (MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO, None):
        missing = missing_strict_metadata(kind, MediaMetadata())
        if missing:
            required[kind.value if kind else "other"] = {"block": missing[0], "fields": missing[1]}
    return {
        "notes": [
            STRICT_MESSAGE,
            "the metadata is trusted as given (nothing is fetched to verify it): keep it accurate",
        ],
        "required_metadata": required,
    }
