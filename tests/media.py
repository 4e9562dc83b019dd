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


def video_bytes(
    width: int = 64,
    height: int = 48,
    frames: int = 20,
    fps: int = 10,
    pix_fmt: str = "yuv420p",
    faststart: bool = True,
    noise: bool = False,
) -> bytes:
    """An H.264 mp4 made with PyAV (moov first when ``faststart``; ``noise`` makes it big)."""
    import tempfile
    from fractions import Fraction
    from pathlib import Path

    import av
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        options = {"movflags": "faststart"} if faststart else {}
        with av.open(str(path), "w", format="mp4", options=options) as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.time_base = Fraction(1, fps)
            for i in range(frames):
                if noise:
                    arr = np.random.default_rng(i).integers(0, 256, (height, width, 3), np.uint8)
                else:
                    arr = np.full((height, width, 3), (i * 12) % 256, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        return path.read_bytes()


def blank_pdf_bytes(pages: int) -> bytes:
    """A PDF of ``pages`` blank US-letter pages."""
    from pypdf import PdfWriter  # imported here: the benches use this module without PDFs

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()
