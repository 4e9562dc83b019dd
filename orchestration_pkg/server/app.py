"""The gateway's ASGI app: ``GET``/``HEAD /v1/folders/{folder}/files/{key}`` → 302 to a fresh
presigned URL, ``/healthz``, JSON errors, CORS for the configured origins, and an access log
that never holds a token, a link signature or a presigned URL.

The folder and key come from the raw request path (``raw_path``), each segment
percent-decoded exactly once as UTF-8: ``%2F`` inside the folder segment cannot move the
folder/key boundary, ``%2520`` names a key containing ``%20``, ``+`` stays ``+``, and dot
segments are part of the key, never resolved. The lookup is then an exact match in the
catalog, so a request reaches the registered object it names and nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestration_pkg.core.gateway.links import API_PREFIX
from orchestration_pkg.core.gateway.resolve import Credentials, Outcome, Resolver

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.config import AppConfig

access_log = logging.getLogger("orchestration_pkg.gateway.access")
# ``serve`` sets this to its access-log handler's text writer: the same line, no LogRecord
access_sink: Callable[[str], None] | None = None
_PREFIX = API_PREFIX.encode()
_FILES = b"files/"
_NO_STORE = {"cache-control": "no-store"}
_LINK_PARAMS = ("exp", "kid", "sig")
LOOKUP_THREADS = 8


@functools.lru_cache(maxsize=65_536)
def split_path(raw_path: bytes) -> tuple[str, str] | None:
    """(folder, key) of ``/v1/folders/{folder}/files/{key}``, each decoded once; None if the
    path has another shape or is not UTF-8. (Memoised: a pure function of the path, and
    labeling tools request the same paths again.)"""
    if not raw_path.startswith(_PREFIX):
        return None
    folder_raw, slash, rest = raw_path[len(_PREFIX) :].partition(b"/")
    if not slash or not rest.startswith(_FILES):
        return None
    key_raw = rest[len(_FILES) :]
    try:
        folder = unquote_to_bytes(folder_raw).decode("utf-8")
        key = unquote_to_bytes(key_raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not folder or not key:
        return None
    return folder, key


def _json(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}).encode()


def error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"error": code, "message": message}, status_code=status, headers=dict(_NO_STORE)
    )


def _answer(outcome: Outcome) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of an outcome: a bare 302, or a JSON error."""
    headers = [(b"cache-control", b"no-store")]
    if outcome.status == 302 and outcome.location:
        headers += [(b"location", outcome.location.encode()), (b"content-length", b"0")]
        return 302, headers, b""
    body = _json(outcome.error, outcome.message)
    if outcome.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="orchestration-pkg"'))
    if outcome.retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(outcome.retry_after))).encode()))
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return outcome.status, headers, body


def _credentials(scope: Scope) -> Credentials:
    client = (scope.get("client") or ("-",))[0]
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            bearer = token.strip() if scheme.lower() == "bearer" else ""
            return Credentials(bearer=bearer, client=client)
    query = scope.get("query_string") or b""
    if query:
        params = dict(parse_qsl(query.decode("latin-1")))
        if any(name in params for name in _LINK_PARAMS):
            return Credentials(link={n: params.get(n, "") for n in _LINK_PARAMS}, client=client)
    return Credentials(client=client)


class GatewayApp:
    """The ASGI app: the file route answered directly (the hot path: no routing table, no
    Request/Response objects), everything else by a small Starlette app (``/healthz``, JSON
    404/405). With SQLite the lookup (a cache hit, or one indexed read of a local file) and the
    presign (pure computation) run on the event loop, cheaper than a thread hop; with other
    catalogs a cache hit is answered on the loop too, and a miss (a network round trip) runs
    on a few threads (one database connection each)."""

    def __init__(self, config: AppConfig, catalog: Catalog) -> None:
        self.resolver = Resolver(config, catalog)
        inline = catalog.dialect == "sqlite"
        self.pool = None if inline else ThreadPoolExecutor(LOOKUP_THREADS, "gateway-lookup")
        self.fallback = _fallback_app()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            raw_path = scope.get("raw_path") or scope["path"].encode()
            if raw_path.startswith(_PREFIX):
                await self._file(scope, raw_path, send)
                return
        await self.fallback(scope, receive, send)

    def close(self) -> None:
        """Stop the lookup's listener thread and close its connections."""
        self.resolver.lookup.dispose()
        if self.pool is not None:
            self.pool.shutdown(wait=False)

    async def _file(self, scope: Scope, raw_path: bytes, send: Send) -> None:
        """Answer a file request and write its access-log line (here rather than in
        :class:`AccessLog`, which lets these through untouched: one wrapper less per request)."""
        started = time.perf_counter()
        status, who = 500, "-"
        try:
            outcome = self._outcome_now(scope, raw_path)
            if outcome is None:
                outcome = await self._outcome_in_thread(scope, raw_path)
            who = outcome.who
            status, headers, body = _answer(outcome)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send(
                {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
            )
        finally:
            if access_log.isEnabledFor(logging.INFO):
                _log_line(scope, raw_path, status, started, who)

    def _outcome_now(self, scope: Scope, raw_path: bytes) -> Outcome | None:
        """The answer without leaving the event loop: SQLite always; PostgreSQL on a cache
        hit (None on a miss: :meth:`_outcome_in_thread`). No coroutine on this path."""
        parts = split_path(raw_path)
        if parts is None:
            return Outcome(404, "not_found", "no such file in this folder")
        if self.pool is None:
            if self._loop is not (loop := asyncio.get_running_loop()):
                self._loop = loop
                self.resolver.lookup.check_once_per_iteration(loop)
            return self.resolver.resolve(*parts, _credentials(scope))
        return self.resolver.resolve_cached(*parts, _credentials(scope))

    async def _outcome_in_thread(self, scope: Scope, raw_path: bytes) -> Outcome:
        """PostgreSQL, a cache miss: the catalog is read on one of the lookup threads."""
        folder, key = split_path(raw_path)  # type: ignore[misc]  # not None: checked before
        loop = asyncio.get_running_loop()
        creds = _credentials(scope)
        return await loop.run_in_executor(self.pool, self.resolver.resolve, folder, key, creds)


def _log_line(scope: Scope, raw_path: bytes, status: int, started: float, who: str) -> None:
    """The access-log line: client, method, raw path (no query string), status, ms, who."""
    client: Any = scope.get("client") or ("-", 0)
    ms = (time.perf_counter() - started) * 1000
    if access_sink is not None:
        path = raw_path.decode("latin-1")
        access_sink(f'{client[0]} "{scope["method"]} {path}" {status} {ms:.1f}ms {who}')
        return
    access_log.info(
        '%s "%s %s" %d %.1fms %s',
        client[0],
        scope["method"],
        raw_path.decode("latin-1"),
        status,
        ms,
        who,
    )


def _fallback_app() -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=dict(_NO_STORE))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "error")
        return error(status, code, str(getattr(exc, "detail", "")) or code.replace("_", " "))

    async def server_error(request: Request, exc: Exception) -> Response:
        return error(500, "internal_error", "internal error")

    async def not_allowed(request: Request) -> Response:
        return error(405, "method_not_allowed", "use GET or HEAD")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route(
                API_PREFIX + "{rest:path}", not_allowed, methods=["POST", "PUT", "PATCH", "DELETE"]
            ),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


def create_app(config: AppConfig, catalog: Catalog) -> ASGIApp:
    """The gateway over ``catalog`` with ``config``'s integrations and ``gateway:`` block:
    access log outermost, then CORS for the configured origins, then :class:`GatewayApp`."""
    gateway = GatewayApp(config, catalog)
    app: ASGIApp = gateway
    origins = config.gateway.cors_origins
    if origins:
        app = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=["authorization"],
            max_age=600,
        )
    return AccessLog(app, gateway)


class AccessLog:
    """One line per request: client, method, path (never the query string: it may carry a
    link signature), status, milliseconds, and the credential's name (never the token)."""

    def __init__(self, app: ASGIApp, gateway: GatewayApp | None = None) -> None:
        self.app = app
        self.gateway = gateway  # the app inside (its cache, ``close``)

    def close(self) -> None:
        if self.gateway is not None:
            self.gateway.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if scope["method"] in ("GET", "HEAD") and raw_path.startswith(_PREFIX):
            if self.app is self.gateway:  # no CORS layer between: straight to the route
                await self.gateway._file(scope, raw_path, send)
            else:
                await self.app(scope, receive, send)  # GatewayApp logs these itself
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                _log_line(scope, raw_path, status[0], started, "-")
