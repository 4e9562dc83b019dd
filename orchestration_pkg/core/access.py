"""The parts of ``check`` (access diagnostics) that the bucket storages share.

:class:`AccessCheckMixin` is used by ``S3Storage``, ``GCSStorage`` and ``AzureStorage``: it picks
the object to probe, runs one probe into one :class:`AccessCheck` row and builds the HEAD,
ranged GET and signing rows. Which permissions are probed first, and the fix for each failure,
stay with the provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from orchestration_pkg.core.errors import StorageError, UrlError
from orchestration_pkg.core.storage import AccessCheck, RangeRead

if TYPE_CHECKING:
    from orchestration_pkg.core.models import ObjectInfo

# Permission name of the row ``check`` adds when the URL it was given is rejected.
P_URL = "url"
SIGN_CHECK_NAME = "orchestration-pkg-check"


def run_probe(
    permission: str, fn: Callable[[], str], fix_for: Callable[[str, StorageError], str]
) -> AccessCheck:
    """Run one probe: a passing row with its detail, or the error and ``fix_for``'s fix."""
    try:
        detail = fn()
    except StorageError as err:
        return AccessCheck(permission, False, str(err), fix_for(permission, err))
    return AccessCheck(permission, True, detail)


class AccessCheckMixin:
    """Shared steps of ``check`` for a storage of one bucket/container + ``prefix``.

    The storage names its permissions (``_head_permission``, ``_get_permission``,
    ``_sign_permission``) and what it stores (``_object_noun``, ``_upload_fix``), and provides
    ``parse_url``, ``canonical_url``, ``head``, ``read_range``, ``_probe_sign`` and ``fix_for``.
    """

    _head_permission: ClassVar[str]
    _get_permission: ClassVar[str]
    _sign_permission: ClassVar[str]
    _object_noun: ClassVar[str] = "object"
    _upload_fix: ClassVar[str] = "upload an object, or pass a key or URL to check"

    prefix: str

    if TYPE_CHECKING:

        def parse_url(self, url: str) -> str: ...

        def canonical_url(self, key: str) -> str: ...

        def head(self, key: str) -> ObjectInfo: ...

        def read_range(self, key: str, start: int, length: int) -> RangeRead: ...

        def fix_for(self, permission: str, err: StorageError) -> str: ...

        def _probe_sign(self, key: str) -> str: ...

    def _probe(self, permission: str, fn: Callable[[], str]) -> AccessCheck:
        return run_probe(permission, fn, self.fix_for)

    def _check_key(
        self, url_or_key: str | None, first: list[str], rows: list[AccessCheck]
    ) -> str | None:
        """The key (blob name) to probe: from the URL, the key given, or the first listed one.

        A rejected URL adds a failed ``P_URL`` row to ``rows`` and gives ``None``.
        """
        if not url_or_key:
            return first[0] if first else None
        if "://" not in url_or_key:
            return url_or_key
        try:
            return self.parse_url(url_or_key)
        except UrlError as err:
            fix = f"use a URL inside {self.canonical_url(self.prefix)}"
            rows.append(AccessCheck(P_URL, False, err.reason, fix))
            return None

    def _object_rows(self, key: str | None, rows: list[AccessCheck]) -> list[AccessCheck]:
        """The HEAD and ranged GET rows of ``key`` (not tried without a key)."""
        if key is None:
            failed = next((r.permission for r in rows if not r.ok and not r.skipped), None)
            return self._untried_object_rows(
                rejected=bool(rows) and rows[-1].permission == P_URL, failed=failed
            )
        return [
            self._probe(self._head_permission, lambda: self._probe_head(key)),
            self._probe(self._get_permission, lambda: self._probe_get(key)),
        ]

    def _untried_object_rows(
        self, *, rejected: bool, failed: str | None = None
    ) -> list[AccessCheck]:
        """Rows for checks that could not run, with the true reason why."""
        if rejected:
            reason, fix = "not tried: the URL was rejected", ""
        elif failed:  # e.g. the listing failed: we do not know whether objects exist
            reason, fix = f"not tried: {failed} failed", f"fix {failed} first"
        else:
            reason = f"not tried: no {self._object_noun} under '{self.prefix}' to probe"
            fix = self._upload_fix
        return [
            AccessCheck(p, False, reason, fix, skipped=True)
            for p in (self._head_permission, self._get_permission)
        ]

    def _sign_row(self, key: str | None) -> AccessCheck:
        """Sign ``key`` (a made-up key under the prefix when there is none); nothing is fetched."""
        sign_key = key or f"{self.prefix}{SIGN_CHECK_NAME}"
        return self._probe(self._sign_permission, lambda: self._probe_sign(sign_key))

    def _probe_head(self, key: str) -> str:
        info = self.head(key)
        return f"{info.size} bytes, {info.content_type or 'no content type'}"

    def _probe_get(self, key: str) -> str:
        read = self.read_range(key, 0, 1)
        return f"read {len(read.data)} byte(s) of {read.info.size}"
