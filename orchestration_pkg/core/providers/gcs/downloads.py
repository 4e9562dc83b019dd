"""What GCS reads hand back: object metadata from a blob, the size of a ranged read from its
response headers, and a streaming reader whose errors are ``StorageError``."""

from __future__ import annotations

import io
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from google.cloud import storage
from requests.structures import CaseInsensitiveDict

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.gcs.errors import mapped_errors
from orchestration_pkg.core.storage import RangeRead, strip_etag, total_size


def _http_date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def blob_info(blob: storage.Blob) -> ObjectInfo:
    """The ``ObjectInfo`` of a listed or reloaded blob."""
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size) if blob.size is not None else None,
        etag=strip_etag(blob.etag),
        content_type=blob.content_type,
        last_modified=blob.updated,
    )


class RangeBlob(storage.Blob):
    """A blob that keeps the status and headers of its last download response.

    ``download_as_bytes`` hands the response to ``_extract_headers_from_download``; keeping its
    headers gives the total size (``Content-Range``) without a second, metadata request.
    Private google-cloud-storage hook (no public API exposes the download response):
    pinned to google-cloud-storage <4 in pyproject.toml.
    """

    last_status: int | None = None
    last_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()

    def _extract_headers_from_download(self, response: Any) -> None:
        super()._extract_headers_from_download(response)
        self.last_status = getattr(response, "status_code", None)
        self.last_headers = CaseInsensitiveDict(response.headers)


def range_result(target: str, blob: RangeBlob, data: bytes, start: int, length: int) -> RangeRead:
    """The ``RangeRead`` of a ranged download of ``blob`` (``target``: its URL, for errors)."""
    headers = blob.last_headers
    size = total_size(headers.get("Content-Range"))
    if size is None and blob.last_status == 200:  # Range ignored: the body is everything
        size = len(data)
        data = data[start : start + length]
    if size is None:
        stored = headers.get("X-Goog-Stored-Content-Length", "")
        size = int(stored) if stored.isdigit() else None
    info = ObjectInfo(
        key=blob.name,
        size=size,
        etag=strip_etag(headers.get("ETag")),
        content_type=headers.get("Content-Type"),
        last_modified=_http_date(headers.get("Last-Modified")),
    )
    if size is not None and 0 < size <= start:  # some emulators answer 206 + empty body
        shown = f"range starts at {start}, object has {size} bytes"
        raise StorageError(f"{target}: GetObject InvalidRange (416: {shown})", code="InvalidRange")
    return RangeRead(data, info)


class MappedReader(io.BufferedIOBase):
    """Read-only stream over a ``BlobReader`` whose errors come out as ``StorageError``."""

    def __init__(self, inner: Any, target: str, endpoint: str | None) -> None:
        super().__init__()
        self._inner = inner
        self._target = target
        self._endpoint = endpoint

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        with mapped_errors("GetObject", self._target, self._endpoint):
            return self._inner.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()
