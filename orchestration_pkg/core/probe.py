"""Object probing from the fewest bytes: a HEAD, or ranged reads of an image header.

Image headers are read with growing ranged GETs (16 KiB, then 64 KiB, …) and parsed by Pillow,
which only needs the header to report size, format and EXIF orientation. The first ranged GET
also answers what a HEAD would (total size from Content-Range, ETag, type, date), so a probed
image costs one request in the common case, not HEAD + GET.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from orchestration_pkg.core.errors import ProbeError
from orchestration_pkg.core.models import MediaMetadata, ObjectInfo
from orchestration_pkg.core.storage import Storage

# Read sizes tried in turn; each step reads only the bytes not yet read.
HEADER_LADDER = (16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024)
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ProbeResult:
    """What probing learnt: object facts, flat metadata (typed model dumped), and its cost."""

    info: ObjectInfo
    metadata: dict[str, Any]
    bytes_read: int
    requests: int


def head_object(storage: Storage, key: str) -> ProbeResult:
    """One HEAD: object facts only."""
    info = storage.head(key)
    return ProbeResult(info=info, metadata={}, bytes_read=0, requests=1)


def probe_image(storage: Storage, key: str) -> ProbeResult:
    """Width, height, format, mode-independent EXIF orientation from the image header."""
    first = storage.read_range(key, 0, HEADER_LADDER[0])
    info, buf, requests = first.info, bytearray(first.data), 1
    total = info.size if info.size is not None else len(buf)
    if total == 0:
        raise ProbeError(f"{storage.canonical_url(key)}: zero-byte object is not an image")
    last_error: Exception | None = None
    for step in (*HEADER_LADDER[1:], None):
        try:
            meta = parse_image_header(bytes(buf))
            meta = meta.model_copy(update={"file_size": info.size})
            return ProbeResult(
                info=info,
                metadata=meta.model_dump(exclude_none=True),
                bytes_read=len(buf),
                requests=requests,
            )
        except Image.DecompressionBombError as exc:
            raise ProbeError(f"{storage.canonical_url(key)}: refused, {exc}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            last_error = exc
        if len(buf) >= total or step is None:
            break
        more = storage.read_range(key, len(buf), min(step, total) - len(buf))
        buf += more.data
        requests += 1
    reason = "not a recognised image" if len(buf) >= total else "image header not found"
    detail = f" ({type(last_error).__name__})" if last_error else ""
    raise ProbeError(
        f"{storage.canonical_url(key)}: {reason} in the first {len(buf)} bytes{detail}"
    )


def parse_image_header(data: bytes) -> MediaMetadata:
    """Parse an image header with Pillow without decoding pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombWarning as exc:
            raise Image.DecompressionBombError(str(exc)) from None
    with img:
        width, height = img.size
        fmt = img.format or ""
        orientation = _orientation(img)
        return MediaMetadata(
            width=width,
            height=height,
            format=fmt.lower() or None,
            mime_type=Image.MIME.get(fmt),
            orientation=orientation,
        )


def _orientation(img: Image.Image) -> int | None:
    """EXIF orientation (1–8) from header data only; never triggers a pixel load."""
    raw = img.info.get("exif")
    value = None
    if raw:
        exif = Image.Exif()
        try:
            exif.load(raw)
            value = exif.get(EXIF_ORIENTATION)
        except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
            value = None
    elif img.format == "TIFF":
        value = getattr(img, "tag_v2", {}).get(EXIF_ORIENTATION)
    return value if isinstance(value, int) and 1 <= value <= 8 else None
