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

import logging
import math
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
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
_PREFIX = API_PREFIX.encode()
_FILES = b"files/"
_NO_STORE = {"cache-control": "no-store"}


def split_path(raw_path: bytes) -> tuple[str, str] | None:
    """(folder, key) of ``/v1/folders/{folder}/files/{key}``, each decoded once; None if the
    path has another shape or is not UTF-8."""
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


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"error": code, "message": message},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


def _response(outcome: Outcome) -> Response:
    if outcome.status == 302 and outcome.location:
        return Response(status_code=302, headers={**_NO_STORE, "location": outcome.location})
    headers: dict[str, str] = {}
    if outcome.status == 401:
        headers["www-authenticate"] = 'Bearer realm="orchestration-pkg"'
    if outcome.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(outcome.retry_after)))
    return error(outcome.status, outcome.error, outcome.message, headers)


def _credentials(request: Request) -> Credentials:
    client = request.client.host if request.client else "-"
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return Credentials(
            bearer=value.strip() if scheme.lower() == "bearer" else "", client=client
        )
    params = request.query_params
    if any(name in params for name in ("exp", "kid", "sig")):
        return Credentials(
            link={n: params.get(n, "") for n in ("exp", "kid", "sig")}, client=client
        )
    return Credentials(client=client)


def create_app(config: AppConfig, catalog: Catalog) -> Starlette:
    """The gateway over ``catalog`` with ``config``'s integrations and ``gateway:`` block."""
    resolver = Resolver(config, catalog)

    async def file_endpoint(request: Request) -> Response:
        parts = split_path(request.scope.get("raw_path") or request.scope["path"].encode())
        if parts is None:
            return error(404, "not_found", "no such file in this folder")
        outcome = await run_in_threadpool(resolver.resolve, *parts, _credentials(request))
        request.scope.setdefault("state", {})["who"] = outcome.who
        return _response(outcome)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "error")
        return error(status, code, str(getattr(exc, "detail", "")) or code.replace("_", " "))

    async def server_error(request: Request, exc: Exception) -> Response:
        return error(500, "internal_error", "internal error")

    middleware = [Middleware(AccessLog)]
    origins = config.gateway.cors_origins
    if origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "HEAD"],
                allow_headers=["authorization"],
                max_age=600,
            )
        )
    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route(API_PREFIX + "{rest:path}", file_endpoint, methods=["GET", "HEAD"]),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


class AccessLog:
    """One line per request: client, method, path (never the query string: it may carry a
    link signature), status, milliseconds, and the credential's name (never the token)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
                client: Any = scope.get("client") or ("-", 0)
                path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
                who = (scope.get("state") or {}).get("who", "-")
                ms = (time.perf_counter() - started) * 1000
                access_log.info(
                    '%s "%s %s" %d %.1fms %s', client[0], scope["method"], path, status[0], ms, who
                )
