"""Metadata probing cost per media kind, on a loopback S3 server (moto), in one run.

For each kind prints the median bytes read and requests per object next to the object size,
then probe throughput for N images against one HEAD per object on the same server.
Goals: images ≤ 64 KiB (median), faststart mp4 ≤ 1 MiB, moov-at-end mp4 ≤ 2 ranged reads +
1 MiB, PDF ≤ 3 ranged reads; N images probed at ≥ 0.5× the bare-HEAD throughput.

Usage: python bench/bench_media.py [--n 10000] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration_pkg.core.config import S3IntegrationConfig  # noqa: E402
from orchestration_pkg.core.media.dispatch import probe_object  # noqa: E402
from orchestration_pkg.core.providers.s3.storage import S3Storage  # noqa: E402
from tests.media import video_bytes  # noqa: E402

BUCKET = "bench-media"
CONCURRENCY = 32


def _image(fmt: str, size: tuple[int, int], exif_pad: int = 0) -> bytes:
    img = Image.effect_noise(size, 40).convert("RGB")
    buf = io.BytesIO()
    kwargs = {}
    if exif_pad:
        exif = Image.Exif()
        exif[0x010E] = "x" * exif_pad
        kwargs["exif"] = exif.tobytes()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    writer.add_attachment("bulk.bin", os.urandom(300_000))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _wav(seconds: float) -> bytes:
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(os.urandom(int(16000 * seconds) * 2))
    return buf.getvalue()


def _samples() -> dict[str, list[bytes]]:
    return {
        "jpeg 1920x1080": [_image("JPEG", (1920, 1080)) for _ in range(3)],
        "jpeg, 60 KiB EXIF": [_image("JPEG", (640, 480), exif_pad=60_000)],
        "png 1024x768": [_image("PNG", (1024, 768))],
        "webp 800x600": [_image("WEBP", (800, 600))],
        "mp4 faststart": [video_bytes(640, 360, frames=90, fps=30, noise=True)],
        "mp4 moov-at-end": [video_bytes(640, 360, frames=90, fps=30, faststart=False, noise=True)],
        "wav 10 s": [_wav(10)],
        "pdf 20 pages": [_pdf(20)],
    }


def _client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=CONCURRENCY),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.n = 100
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # noqa: SLF001
    try:
        s3 = _client(endpoint)
        s3.create_bucket(Bucket=BUCKET)
        storage = S3Storage(
            S3IntegrationConfig(
                name="bench", bucket=BUCKET, endpoint_url=endpoint, max_pool_connections=CONCURRENCY
            )
        )
        print(f"{'kind':22} {'object size':>12} {'bytes read':>11} {'requests':>9} {'read %':>7}")
        for label, blobs in _samples().items():
            read, reqs, sizes = [], [], []
            for i, blob in enumerate(blobs):
                key = f"kinds/{label.replace(' ', '_')}/{i}"
                s3.put_object(Bucket=BUCKET, Key=key, Body=blob)
                result = probe_object(storage, key)
                read.append(result.bytes_read)
                reqs.append(result.requests)
                sizes.append(len(blob))
            med_read, med_size = statistics.median(read), statistics.median(sizes)
            print(
                f"{label:22} {med_size:12.0f} {med_read:11.0f} {statistics.median(reqs):9.0f} "
                f"{100 * med_read / med_size:6.1f}%"
            )

        blob = _image("JPEG", (1280, 720))
        keys = [f"many/{i:06d}.jpg" for i in range(args.n)]
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=blob), keys))
            start = time.perf_counter()
            list(pool.map(lambda k: s3.head_object(Bucket=BUCKET, Key=k), keys))
            t_head = time.perf_counter() - start
            start = time.perf_counter()
            list(pool.map(lambda k: probe_object(storage, k), keys))
            t_probe = time.perf_counter() - start
        print(
            f"\n{args.n} images: HEAD {args.n / t_head:.0f}/s, probe {args.n / t_probe:.0f}/s, "
            f"probe throughput = {t_head / t_probe:.2f}× bare HEAD (goal ≥ 0.5×)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
