"""Generated test media (no fixture files are committed)."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(
    width: int, height: int, fmt: str = "PNG", orientation: int | None = None, exif_padding: int = 0
) -> bytes:
    """An image of the given size; ``exif_padding`` bloats the EXIF block (pushes SOF back)."""
    img = Image.new("RGB", (width, height), (width % 256, height % 256, 90))
    buf = io.BytesIO()
    kwargs = {}
    if orientation or exif_padding:
        exif = Image.Exif()
        if orientation:
            exif[0x0112] = orientation
        if exif_padding:
            exif[0x010E] = "x" * exif_padding  # ImageDescription
        kwargs["exif"] = exif.tobytes()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()
