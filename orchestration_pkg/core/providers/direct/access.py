"""What a direct-access user sets up (pre-signed URLs, CORS) and the ``check`` diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import run_probe
from orchestration_pkg.core.errors import StorageError, UrlError
from orchestration_pkg.core.models import MediaKind, MediaMetadata
from orchestration_pkg.core.providers.direct.config import DirectIntegrationConfig
from orchestration_pkg.core.providers.direct.errors import LIST_MESSAGE, STRICT_MESSAGE
from orchestration_pkg.core.providers.direct.urls import parse_direct_url, presigned_expiry
from orchestration_pkg.core.storage import AccessCheck
from orchestration_pkg.core.urls import shown_url

if TYPE_CHECKING:
    from orchestration_pkg.core.models import ObjectInfo
    from orchestration_pkg.core.netguard import NetworkPolicy
    from orchestration_pkg.core.storage import RangeRead

CORS_EXPOSE_HEADERS = ["Content-Range", "Accept-Ranges", "ETag", "Content-Length"]
MAX_PRESIGN_DAYS = 7

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``core.access``).
P_POLICY = "url policy (SSRF)"
P_HEAD = "HEAD"
P_GET = "ranged GET"
P_EXPIRY = "expiry"
P_STRICT = "strict client-only"
P_PROBE = "probe"


class DirectAccess:
    """Setup guide and ``check`` of ``DirectStorage`` (URL policy, probes, expiry)."""

    provider: str
    name: str
    config: DirectIntegrationConfig
    strict_client_only: bool
    policy: NetworkPolicy

    if TYPE_CHECKING:

        def parse_url(self, url: str) -> str: ...

        def record_key(self, key: str) -> str: ...

        def _head(self, key: str) -> tuple[ObjectInfo, str]: ...

        def _read_range(self, key: str, start: int, length: int) -> tuple[RangeRead, bool]: ...

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe one URL: syntax, SSRF policy, HEAD, ranged GET and pre-signed expiry."""
        if not url_or_key:
            return self._config_rows()
        try:  # syntax only: the policy has its own row below
            key = parse_direct_url(url_or_key, self.config.url_prefixes)
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

    def setup_guide(
        self, origins: list[str], max_age: int = 3600, *, principal: str | None = None
    ) -> dict[str, Any]:
        """What the user sets up: pre-signed URLs, CORS on their origin/CDN, strict metadata.

        ``principal`` is accepted for the protocol; direct access grants nothing to anyone.
        """
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
