"""Errors of direct access: what it cannot do, and refusals explained by an expired URL.

HTTP and network failures are mapped to ``StorageError`` codes by
:mod:`orchestration_pkg.core.netguard`, which performs every fetch.
"""

from __future__ import annotations

from typing import NoReturn

from orchestration_pkg.core.netguard import HttpStatusError
from orchestration_pkg.core.providers.direct.urls import presigned_expiry

STRICT_MESSAGE = (
    "strict client-only: this integration never fetches; the manifest must carry metadata"
)
LIST_MESSAGE = "direct access integrations cannot list; supply a manifest"
SIGN_MESSAGE = "direct access never signs: the manifest's URL is used as given"


def raise_explained(err: HttpStatusError, key: str) -> NoReturn:
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
