"""The gateway's resolver on both catalog backends: its raw SQL (placeholders, JSON scopes),
the order of its checks, live rows before removed ones, revocation without delay."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import uvloop

from orchestration_pkg.core.catalog import Catalog, FileRecord
from orchestration_pkg.core.catalog.sync_queries import mark_removed
from orchestration_pkg.core.config import parse_config
from orchestration_pkg.core.gateway.links import LinkSigner
from orchestration_pkg.core.gateway.resolve import Credentials, Resolver
from orchestration_pkg.core.gateway.tokens import create_token, revoke_token

KEY = "s" * 32


def _config(url: str) -> Any:
    return parse_config({
        "catalog": url,
        "integrations": [{"name": "acme", "bucket": "bkt", "region": "eu-west-1",
                          "auth": {"method": "access_key", "access_key_id": "AKID",
                                   "secret_access_key": "x"}}],
        "gateway": {"ttl_s": 120, "signing_keys": [KEY]},
    })  # fmt: skip


def _row(key: str, integration: str = "acme") -> FileRecord:
    return FileRecord(object_url=f"s3://bkt/{key}#{integration}", key=key, integration=integration)


def test_resolver_on_both_backends(catalog_url: str) -> None:
    catalog = Catalog(catalog_url)
    try:
        for name, keys in (("lake", ["a b/é+1.jpg", "gone.jpg"]), ("other", ["x.jpg"])):
            folder = catalog.ensure_folder(name)
            with catalog.writer(folder.id) as writer:
                writer.upsert([_row(k) for k in keys])
                writer.commit()
        # the same key twice in one folder (two integrations): the live row wins
        lake = catalog.ensure_folder("lake")
        with catalog.writer(lake.id) as writer:
            writer.upsert([_row("twice.jpg"), _row("twice.jpg", "old")])
            writer.commit()
        old = [r.id for r in catalog.iter_files("lake") if r.integration == "old"]
        gone = catalog.find_file("lake", "gone.jpg").id
        assert mark_removed(catalog, [*old, gone]) == 2
        token, _ = create_token(catalog, "t", ["lake"])
        resolver = Resolver(_config(catalog_url), catalog)
        creds = Credentials(bearer=token)

        ok = resolver.resolve("lake", "a b/é+1.jpg", creds)
        assert ok.status == 302 and ok.who == "t"
        assert "/a%20b/%C3%A9%2B1.jpg?" in ok.location and "X-Amz-Expires=120" in ok.location
        assert resolver.resolve("lake", "twice.jpg", creds).status == 302
        assert resolver.resolve("lake", "gone.jpg", creds).status == 410
        assert resolver.resolve("lake", "nope.jpg", creds).status == 404
        for folder, key in (("other", "x.jpg"), ("other", "nope"), ("nofolder", "x.jpg")):
            assert resolver.resolve(folder, key, creds).status == 403
        assert resolver.resolve("lake", "a b/é+1.jpg", Credentials(bearer="opgw_x")).status == 401
        assert resolver.resolve("lake", "a b/é+1.jpg", Credentials()).status == 401

        link = LinkSigner("http://gw", KEY.encode()).link(
            "other", "x.jpg", 4_102_444_800
        )  # year 2100
        query = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
        assert resolver.resolve("other", "x.jpg", Credentials(link=query)).status == 302
        assert resolver.resolve("other", "y.jpg", Credentials(link=query)).status == 401

        listener = resolver.lookup.listener
        assert (listener is not None) == catalog_url.startswith("postgresql")
        before = resolver.lookup._shared.number if listener is not None else 0
        revoke_token(catalog, "t")
        if listener is not None:  # PostgreSQL: the change is seen once its NOTIFY arrived
            deadline = time.monotonic() + 5
            while resolver.lookup._shared.number == before and time.monotonic() < deadline:
                time.sleep(0.001)
        assert resolver.resolve("lake", "a b/é+1.jpg", creds).status == 401
        resolver.lookup.dispose()
    finally:
        catalog.dispose()


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_sqlite_check_shared_within_a_loop_iteration_only(tmp_path: Any, loop_kind: str) -> None:
    """One ``data_version`` read serves the requests of one event-loop iteration; a commit
    by another connection is seen by the first request of the next iteration."""
    from orchestration_pkg.server.app import create_app

    url = f"sqlite:///{tmp_path / 'c.db'}"
    catalog = Catalog(url)
    folder = catalog.ensure_folder("lake")
    with catalog.writer(folder.id) as writer:
        writer.upsert([_row("a.jpg")])
        writer.commit()
    token, _ = create_token(catalog, "t", ["lake"])
    app = create_app(_config(url), catalog)
    scope = {"type": "http", "method": "HEAD", "path": "/v1/folders/lake/files/a.jpg",
             "raw_path": b"/v1/folders/lake/files/a.jpg", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {token}".encode())],
             "client": ("127.0.0.1", 1)}  # fmt: skip
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def scenario() -> None:
        await app(dict(scope), None, send)
        await asyncio.sleep(0)
        await app(dict(scope), None, send)  # from the cache
        revoke_token(catalog, "t")  # another connection commits
        await asyncio.sleep(0)  # a request arriving now is handled in a later iteration
        await app(dict(scope), None, send)

    loop = uvloop.new_event_loop() if loop_kind == "uvloop" else asyncio.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
        app.close()
        catalog.dispose()
    assert statuses == [302, 302, 401]
