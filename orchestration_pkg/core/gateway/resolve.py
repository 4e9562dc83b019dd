"""From a gateway request to a redirect: authenticate, rate-limit, scope-check, look the file
up, presign. No HTTP here (the Starlette app in :mod:`orchestration_pkg.server` calls it).

Order of the checks: credentials (401) → rate limit (429) → folder scope (403) → the file
(404 unknown, 410 removed) → 302. A token without the folder in its scope gets 403 whether
or not the folder or file exists (the token and the file are read in one statement, but the
file is only looked at once the scope allows it), and a link's MAC is checked before anything
is looked up, so neither learns what exists outside what it may read. Catalog reads are a
cache hit checked fresh, or one autocommit statement (:mod:`.lookup`); presigning comes
after, with no connection held.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

from orchestration_pkg.core.errors import OrchestrationError, StorageError
from orchestration_pkg.core.gateway.links import verify_link
from orchestration_pkg.core.gateway.lookup import FileRow, GatewayLookup
from orchestration_pkg.core.gateway.ratelimit import RateLimiter
from orchestration_pkg.core.gateway.tokens import PREFIX
from orchestration_pkg.core.storage import MIN_REDIRECT_TTL, Storage

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.config import AppConfig

log = logging.getLogger(__name__)


class Credentials(NamedTuple):
    """What a request presented: a bearer token, or a link's ``exp``/``kid``/``sig``.
    (Named tuples, not dataclasses, here and below: built once per request, cheaper.)"""

    bearer: str | None = None
    link: dict[str, str] | None = None
    client: str = "-"


class Outcome(NamedTuple):
    """The answer: a status, an error code + message (JSON body), or the redirect target.
    ``who`` names the credential for the access log (a token's name, ``link``, ``-``)."""

    status: int
    error: str = ""
    message: str = ""
    location: str | None = None
    who: str = "-"
    retry_after: float | None = None


_LINK_PARAMS = ("exp", "kid", "sig")
_UNBUILT: Any = object()
MAX_TOKEN_CHARS = 200


class Resolver:
    """Turns (folder, key, credentials) into an :class:`Outcome`; thread-safe."""

    def __init__(self, config: AppConfig, catalog: Catalog) -> None:
        self.config = config
        self.lookup = GatewayLookup(catalog)
        self.ttl = config.gateway.ttl_s
        self.keys = config.gateway.keys()
        limit = config.gateway.rate_limit
        self.limiter = RateLimiter(limit.requests_per_second, limit.burst)
        self._storages: dict[str, Storage | None] = {}
        self._lock = threading.Lock()

    def resolve(self, folder: str, key: str, creds: Credentials) -> Outcome:
        """The answer to a request, reading the catalog if the cache cannot tell."""
        outcome = self._resolve(folder, key, creds, cached_only=False)
        assert outcome is not None
        return outcome

    def resolve_cached(self, folder: str, key: str, creds: Credentials) -> Outcome | None:
        """The answer if the lookup cache alone can give it (nothing else is done then, not
        even the rate limit), else None: call :meth:`resolve` (on a thread, for PostgreSQL)."""
        return self._resolve(folder, key, creds, cached_only=True)

    def _resolve(
        self, folder: str, key: str, creds: Credentials, *, cached_only: bool
    ) -> Outcome | None:
        if creds.bearer is not None:
            return self._with_token(folder, key, creds.bearer, cached_only)
        if creds.link is not None:
            return self._with_link(folder, key, creds.link, creds.client, cached_only)
        return Outcome(401, "unauthorized", "a bearer token or a signed gateway link is needed")

    def _with_token(self, folder: str, key: str, bearer: str, cached_only: bool) -> Outcome | None:
        token, row = (None, None)
        if bearer.startswith(PREFIX) and len(bearer) <= MAX_TOKEN_CHARS:
            if cached_only:
                hit = self.lookup.cached_token_and_file(bearer, folder, key)
                if hit is None:
                    return None
                token, row = hit
            else:
                token, row = self.lookup.token_and_file(bearer, folder, key)
        if token is None:
            return Outcome(401, "invalid_token", "unknown or revoked token")
        limited = self._limited(f"token:{token.name}", token.name)
        if limited is not None:
            return limited
        if folder not in token.folders:  # the row read with it is never looked at
            return Outcome(403, "forbidden", "this token may not read this folder", who=token.name)
        return self._redirect(row, token.name)

    def _with_link(
        self, folder: str, key: str, link: dict[str, str], client: str, cached_only: bool
    ) -> Outcome | None:
        if any(not link.get(name) for name in _LINK_PARAMS):
            return Outcome(401, "invalid_link", "malformed link: exp, kid and sig are needed")
        check = verify_link(self.keys, folder, key, link["exp"], link["kid"], link["sig"])
        if not check.ok:
            return Outcome(401, "invalid_link", check.error, who="link")
        hit = self.lookup.cached_file(folder, key) if cached_only else None
        if cached_only and hit is None:
            return None  # before the rate limit: the full resolve takes it
        limited = self._limited(f"link:{client}", "link")
        if limited is not None:
            return limited
        return self._redirect(hit[0] if hit is not None else self.lookup.file(folder, key), "link")

    def _limited(self, bucket: str, who: str) -> Outcome | None:
        wait = self.limiter.take(bucket)
        if wait is None:
            return None
        return Outcome(429, "rate_limited", "too many requests", who=who, retry_after=wait)

    def _redirect(self, row: FileRow | None, who: str) -> Outcome:
        if row is None:
            return Outcome(404, "not_found", "no such file in this folder", who=who)
        if row.removed:
            return Outcome(410, "gone", "this file was removed from its bucket", who=who)
        try:
            storage = self._storage(row.integration)
            if storage is None:  # direct URLs are never signed: their canonical URL it is
                return Outcome(302, location=row.object_url, who=who)
            url = storage.sign(row.key, self.ttl, min_ttl=MIN_REDIRECT_TTL)
        except (StorageError, OrchestrationError) as exc:
            log.warning("gateway: cannot sign a file of integration %s: %s", row.integration, exc)
            return Outcome(
                502, "signing_failed", "the file's storage could not sign a URL", who=who
            )
        return Outcome(302, location=url, who=who)

    def _storage(self, name: str) -> Storage | None:
        found = self._storages.get(name, _UNBUILT)
        if found is not _UNBUILT:
            return found
        with self._lock:
            if name not in self._storages:
                from orchestration_pkg.core.registration import build_storage

                integration = self.config.integration(name)  # NotFoundError if not configured
                direct = integration.provider == "direct"
                self._storages[name] = None if direct else build_storage(integration)
            return self._storages[name]
