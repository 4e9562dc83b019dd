"""Bearer tokens of the gateway, kept in the catalog as SHA-256 hashes with folder scopes.

A token is 256 random bits (``opgw_`` + URL-safe base64), shown once at creation. Only its
SHA-256 is stored: a fast hash is enough for secrets this long (no password to stretch), and
lets the gateway find a token with one indexed lookup per request. Revoking deletes the row,
so it takes effect with the next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from orchestration_pkg.core.catalog.schema import gateway_tokens
from orchestration_pkg.core.errors import ConfigError, NotFoundError
from orchestration_pkg.core.folders import validate_folder_name

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog

PREFIX = "opgw_"
HINT_CHARS = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, never the token itself."""

    name: str
    hint: str
    folders: tuple[str, ...]
    created_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _info(row: Any) -> TokenInfo:
    return TokenInfo(row.name, row.hint, tuple(row.folders or ()), row.created_at)


def create_token(catalog: Catalog, name: str, folders: list[str]) -> tuple[str, TokenInfo]:
    """A new token ``name`` for ``folders``: (the token, shown once; what is stored)."""
    if not _NAME.match(name):
        raise ConfigError(
            f"token name {name[:40]!r}: 1–128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    if not folders:
        raise ConfigError("a token needs at least one --folder")
    scopes = tuple(dict.fromkeys(validate_folder_name(f) for f in folders))
    token = PREFIX + secrets.token_urlsafe(32)
    values = {
        "name": name,
        "token_hash": hash_token(token),
        "hint": token[:HINT_CHARS],
        "folders": list(scopes),
        "created_at": datetime.now(timezone.utc),
    }
    try:
        with catalog.engine.begin() as conn:
            conn.execute(gateway_tokens.insert().values(**values))
    except IntegrityError:
        raise ConfigError(f"a token named '{name}' exists: revoke it first") from None
    return token, TokenInfo(name, values["hint"], scopes, values["created_at"])


def list_tokens(catalog: Catalog) -> list[TokenInfo]:
    stmt = sa.select(gateway_tokens).order_by(gateway_tokens.c.name)
    with catalog.engine.connect() as conn:
        return [_info(row) for row in conn.execute(stmt)]


def revoke_token(catalog: Catalog, name: str) -> None:
    """Delete token ``name``; ``NotFoundError`` if there is none."""
    with catalog.engine.begin() as conn:
        gone = conn.execute(gateway_tokens.delete().where(gateway_tokens.c.name == name))
    if not gone.rowcount:
        raise NotFoundError(f"no token named '{name}'")


def find_token(conn: sa.Connection, token: str) -> TokenInfo | None:
    """The stored token ``token`` hashes to, on the caller's (short, read-only) connection."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    stmt = sa.select(gateway_tokens).where(gateway_tokens.c.token_hash == hash_token(token))
    row = conn.execute(stmt).first()
    return _info(row) if row is not None else None
