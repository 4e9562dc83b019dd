"""Gateway links: ``/v1/folders/{folder}/files/{key}?exp=…&kid=…&sig=…``, HMAC-signed.

A link names one object of one folder and carries its own expiry; the gateway verifies it
with the configured keys (``kid`` says which) and redirects to a fresh presigned URL. The MAC
covers ``v1``, the folder, the expiry and the key, decoded (folders never hold a newline and
the key comes last, so no two links share a message).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote

API_PREFIX = "/v1/folders/"
_SIG_BYTES = 32


def key_id(key: bytes) -> str:
    """A short, public name of a signing key (8 hex digits of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:8]


def file_path(folder: str, key: str) -> str:
    """The gateway path of ``key`` in ``folder`` (UTF-8, percent-encoded; ``/`` kept in keys)."""
    return f"{API_PREFIX}{quote(folder, safe='')}/files/{quote(key, safe='/~')}"


def _mac(secret: bytes, folder: str, key: str, expires: int) -> str:
    message = f"v1\n{folder}\n{expires}\n{key}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class LinkSigner:
    """Writes links with the newest key; ``base_url`` is the gateway as clients reach it."""

    def __init__(self, base_url: str, secret: bytes) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._kid = key_id(secret)

    def link(self, folder: str, key: str, expires: int) -> str:
        sig = _mac(self._secret, folder, key, expires)
        return f"{self.base_url}{file_path(folder, key)}?exp={expires}&kid={self._kid}&sig={sig}"


@dataclass(frozen=True)
class LinkCheck:
    """Why a link was refused (``ok`` when it was not)."""

    ok: bool
    error: str = ""


def verify_link(
    secrets: list[bytes],
    folder: str,
    key: str,
    exp: str,
    kid: str,
    sig: str,
    now: float | None = None,
) -> LinkCheck:
    """Whether ``sig`` is a valid, unexpired MAC of (folder, key, exp) under key ``kid``."""
    if not exp.isdigit() or len(exp) > 12:
        return LinkCheck(False, "malformed link")
    by_id = {key_id(s): s for s in secrets}
    secret = by_id.get(kid)
    if secret is None:
        return LinkCheck(False, "unknown or retired signing key")
    if not hmac.compare_digest(_mac(secret, folder, key, int(exp)), sig):
        return LinkCheck(False, "bad signature")
    if int(exp) <= (time.time() if now is None else now):
        return LinkCheck(False, "link expired")
    return LinkCheck(True)
