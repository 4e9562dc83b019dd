"""Presigned S3 GET URLs at a fraction of ``generate_presigned_url``'s cost, byte for byte the
same URLs botocore makes.

Why hand-written: boto3's ``generate_presigned_url`` runs a client's whole request pipeline
(parameter validation, serialisation, endpoint rules, event hooks) for every URL, about half a
millisecond each here, so a 1,000,000-row export would spend minutes just signing. Only the
SigV4 query-string arithmetic is repeated here (docs.aws.amazon.com/AmazonS3/latest/API/
sigv4-query-string-auth.html); everything about *where* the URL points (scheme, host,
virtual-hosted or path style, region) is learnt from botocore itself: :class:`FastPresigner`
asks the client for one real presigned URL of a probe key and copies its layout. That same URL
is then re-signed here with botocore's timestamp and compared; any difference (a future
botocore adding a parameter, an unusual endpoint) switches the presigner to botocore for good.
``tests/test_s3_presign.py`` compares both on awkward keys, with and without session tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlsplit

log = logging.getLogger(__name__)

PROBE_KEY = "op-presign-probe"
MAX_PATHS = 100_000  # quoted paths remembered per bucket
_ALGORITHM = "AWS4-HMAC-SHA256"
_SAFE_KEY = "/~"  # botocore's S3 serializer quotes keys with these kept
_SAFE_QUERY = "-_.~"  # botocore.utils.SAFE_CHARS
# Anything botocore would percent-encode in a key (keys without it are used as they are).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.~/-]").search
_AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
)


class _Layout:
    """Where botocore points GET URLs of one bucket: ``scheme://host`` + path prefix."""

    def __init__(self, probe_url: str) -> None:
        parts = urlsplit(probe_url)
        if not parts.path.endswith("/" + PROBE_KEY):
            raise ValueError("unexpected presigned URL path")
        names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
        if any(name not in _AUTH_PARAMS for name in names):
            raise ValueError("presigned URL carries parameters this signer does not make")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        scope = query["X-Amz-Credential"].split("/")
        if len(scope) != 5 or scope[3:] != ["s3", "aws4_request"]:
            raise ValueError("unexpected credential scope")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self.path_prefix = parts.path[: -len(PROBE_KEY)]
        self.region = scope[2]
        self.probe_query = query


class _Parts(NamedTuple):
    """The per-(credentials, second, expiry) pieces of the string to sign and the URL."""

    canonical_tail: bytes  # after the path: canonical query, signed header, payload hash
    to_sign_head: bytes  # algorithm, date, scope (the canonical request's hash follows)
    url_tail: str  # "?" + the query, up to "X-Amz-Signature="
    inner: Any  # sha256 primed with the signing key ^ ipad (HMAC, RFC 2104)
    outer: Any  # sha256 primed with the signing key ^ opad


def _primed(signing_key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's two hash states after the key block: copying them per message is a third
    of ``hmac.digest``'s cost (which sets a key up each call); same result, tested."""
    block = signing_key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


class FastPresigner:
    """SigV4 presigned GET URLs for one bucket, with botocore's layout and credentials.

    ``client`` is the integration's boto3 S3 client; ``credentials`` a callable returning
    botocore credentials (refreshable ones refresh themselves on access).
    """

    def __init__(self, client: Any, bucket: str, credentials: Any) -> None:
        self._client = client
        self._bucket = bucket
        self._credentials = credentials
        self._lock = threading.Lock()
        self._layout: _Layout | None = None
        self._fallback = False
        self._keys: tuple[str, str, bytes] | None = None  # (secret, date, signing key)
        self._stamp: tuple[int, str] = (-1, "")
        self._parts_cache: tuple[tuple[Any, ...], _Parts] | None = None
        self._paths: dict[str, str] = {}  # key → quoted URL path (the same keys come back)

    @property
    def uses_botocore(self) -> bool:
        """True once the self-check failed (or could not run): every URL comes from botocore."""
        self._ready()
        return self._fallback

    def presign(self, key: str, expires: int) -> str:
        """A presigned GET URL of ``key`` valid ``expires`` seconds (no clamping here)."""
        layout = self._ready()
        if layout is None:
            return self._botocore(key, expires)
        return self._sign(layout, key, expires, self._amz_date())

    # -- internals ---------------------------------------------------------------------------

    def _botocore(self, key: str, expires: int) -> str:
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires
            )
        )

    def _ready(self) -> _Layout | None:
        if self._layout is not None or self._fallback:
            return self._layout
        with self._lock:
            if self._layout is None and not self._fallback:
                self._layout = self._learn()
                self._fallback = self._layout is None
        return self._layout

    def _learn(self) -> _Layout | None:
        """The layout of a real botocore URL, if re-signing that URL here gives the same."""
        probe = self._botocore(PROBE_KEY, 900)
        try:
            layout = _Layout(probe)
            query = layout.probe_query
            mine = self._sign(layout, PROBE_KEY, int(query["X-Amz-Expires"]), query["X-Amz-Date"])
        except (ValueError, KeyError):
            mine = None
        if mine != probe:
            log.info("S3 presigning: botocore's URL layout is unusual; using botocore per URL")
            return None
        return layout

    def _amz_date(self) -> str:
        now = int(time.time())
        second, text = self._stamp
        if second != now:
            text = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            self._stamp = (now, text)
        return text

    def _signing_key(self, secret: str, date: str, region: str) -> bytes:
        """The SigV4 signing key of (secret, day): derived once a day per secret."""
        cached = self._keys
        if cached is not None and cached[0] == secret and cached[1] == date:
            return cached[2]
        k = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
        for part in (region, "s3", "aws4_request"):
            k = hmac.digest(k, part.encode(), "sha256")
        self._keys = (secret, date, k)
        return k

    def _parts(self, layout: _Layout, expires: int, amz_date: str) -> _Parts:
        """What every URL signed in this second with these credentials shares, computed once
        per (credentials, second, expiry). The credentials are asked for on every URL
        (refreshable ones rotate themselves): a new access key, secret or session token
        makes a new entry, and the signing key is re-derived for a new secret or day."""
        creds = self._credentials().get_frozen_credentials()
        cache_key = (creds.access_key, creds.secret_key, creds.token, amz_date, expires)
        cached = self._parts_cache
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        date = amz_date[:8]
        scope = f"{date}/{layout.region}/s3/aws4_request"
        params = [
            ("X-Amz-Algorithm", _ALGORITHM),
            ("X-Amz-Credential", quote(f"{creds.access_key}/{scope}", safe=_SAFE_QUERY)),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(int(expires))),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if creds.token is not None:
            params.append(("X-Amz-Security-Token", quote(creds.token, safe=_SAFE_QUERY)))
        query = "&".join(f"{k}={v}" for k, v in params)
        canonical_query = "&".join(f"{k}={v}" for k, v in sorted(params))
        inner, outer = _primed(self._signing_key(creds.secret_key, date, layout.region))
        parts = _Parts(
            canonical_tail=(
                f"\n{canonical_query}\nhost:{layout.host}\n\nhost\nUNSIGNED-PAYLOAD"
            ).encode(),
            to_sign_head=f"{_ALGORITHM}\n{amz_date}\n{scope}\n".encode(),
            url_tail=f"?{query}&X-Amz-Signature=",
            inner=inner,
            outer=outer,
        )
        self._parts_cache = (cache_key, parts)
        return parts

    def _sign(self, layout: _Layout, key: str, expires: int, amz_date: str) -> str:
        parts = self._parts(layout, expires, amz_date)
        path = self._paths.get(key)
        if path is None:
            path = layout.path_prefix + (quote(key, safe=_SAFE_KEY) if _UNSAFE(key) else key)
            if len(self._paths) >= MAX_PATHS:
                self._paths.clear()
            self._paths[key] = path
        canonical = b"GET\n" + path.encode() + parts.canonical_tail
        to_sign = parts.to_sign_head + hashlib.sha256(canonical).hexdigest().encode()
        inner = parts.inner.copy()
        inner.update(to_sign)
        outer = parts.outer.copy()
        outer.update(inner.digest())
        signature = outer.hexdigest()
        return f"{layout.origin}{path}{parts.url_tail}{signature}"
