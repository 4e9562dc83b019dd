"""End-to-end demo on a local S3-protocol server (moto, 127.0.0.1 only).

Fills a private bucket with generated images (keys with spaces and non-ASCII characters, one
EXIF-rotated photo, one missing object and one malformed row in the manifest), then registers
them through the same CLI a user runs. ``--serve`` keeps the S3 server up for ``dagster dev``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import shlex
import signal
import sys
import time
from pathlib import Path

import boto3
from PIL import Image

from orchestration_pkg.core.urls import encode_key_for_url

BUCKET = "acme-private-data"
PREFIX = "raw/"


def _image(width: int, height: int, fmt: str, orientation: int | None = None) -> bytes:
    img = Image.new("RGB", (width, height), tuple(random.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(buf, fmt, exif=exif.tobytes())
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def _start_server(port: int) -> tuple[object, str]:
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request line, signed query strings included: keep it quiet.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    actual = server._server.server_port  # noqa: SLF001 - port 0 means "any free port"
    return server, f"http://127.0.0.1:{actual}"


def _fill_bucket(endpoint: str, count: int) -> list[tuple[str, int, int]]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    names = ["street scene", "café terrasse", "Ærøskøbing harbour", "naïve-sketch", "plain"]
    made = []
    for i in range(count):
        w, h = random.choice([(640, 480), (1280, 720), (300, 300), (1024, 768)])
        fmt, ext = random.choice([("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")])
        key = f"{PREFIX}{names[i % len(names)]} {i:03d}.{ext}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=_image(w, h, fmt), ContentType=Image.MIME[fmt])
        made.append((key, w, h))
    rotated = f"{PREFIX}phone photo (rotated).jpg"
    s3.put_object(
        Bucket=BUCKET,
        Key=rotated,
        Body=_image(400, 300, "JPEG", orientation=6),
        ContentType="image/jpeg",
    )
    made.append((rotated, 400, 300))
    return made


def _write_files(workdir: Path, endpoint: str, objects: list[tuple[str, int, int]]) -> Path:
    images = []
    for n, (key, _w, _h) in enumerate(objects):
        # Half as s3:// URIs (literal keys), half as percent-encoded endpoint URLs.
        url = f"s3://{BUCKET}/{key}" if n % 2 else f"{endpoint}/{BUCKET}/{encode_key_for_url(key)}"
        images.append(
            {
                "objectUrl": url,
                "title": key.rsplit("/", 1)[-1],
                "clientMetadata": {"source": "demo", "n": n},
            }
        )
    images.append({"objectUrl": f"s3://{BUCKET}/{PREFIX}does-not-exist.jpg", "title": "missing"})
    images.append({"title": "row without a URL"})
    manifest = workdir / "manifest.json"
    manifest.write_text(
        json.dumps({"images": images, "skip_duplicate_urls": False}, indent=1), encoding="utf-8"
    )
    config = workdir / "orchestration_pkg.yaml"
    config.write_text(
        f"catalog: sqlite:///{(workdir / 'catalog.db').resolve()}\n"
        "integrations:\n"
        "  - name: acme\n"
        "    provider: s3\n"
        f"    bucket: {BUCKET}\n"
        f"    prefix: {PREFIX}\n"
        "    region: us-east-1\n"
        f"    endpoint_url: {endpoint}\n"
        "    default: true\n"
        "    auth:\n"
        "      method: access_key\n"
        "      access_key_id: ${AWS_ACCESS_KEY_ID:-demo}\n"
        "      secret_access_key: ${AWS_SECRET_ACCESS_KEY:-demo-secret}\n"
        "    manifests:\n"
        "      prefix: manifests/\n"
        "      ignore_errors: true\n"
        "folders:  # the Dagster asset orchestration_pkg/folder/demo registers this manifest\n"
        f"  demo: {{manifest: '{manifest.resolve()}', ignore_errors: true}}\n",
        encoding="utf-8",
    )
    return manifest


def _cli(*args: str) -> None:
    """Run one CLI command in-process, printed first as a command line that pastes."""
    from orchestration_pkg.cli import app

    print(f"\n$ orchestration-pkg {shlex.join(args)}", flush=True)
    try:
        code = app(list(args), standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    if code:
        print(f"(exit code {code})", flush=True)


def _keep_or_delete_catalog(catalog: Path, *, fresh: bool) -> None:
    """Never delete an existing catalog silently: --fresh, or a 'y' at the prompt."""
    if not catalog.exists():
        return
    if fresh:
        catalog.unlink()
        print(f"deleted {catalog} (--fresh)")
        return
    if sys.stdin.isatty():
        answer = input(f"{catalog} exists: delete it and start from an empty catalog? [y/N] ")
        if answer.strip().lower() in ("y", "yes"):
            catalog.unlink()
            print(f"deleted {catalog}")
            return
    print(
        f"keeping the existing catalog {catalog} (to start from an empty one: "
        f".venv/bin/python -m orchestration_pkg.demo --fresh)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default=".demo")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--serve", action="store_true", help="keep the S3 server running until Ctrl-C"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="delete the demo catalog first, without asking"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo-secret")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _keep_or_delete_catalog(workdir / "catalog.db", fresh=args.fresh)
    random.seed(7)
    server, endpoint = _start_server(args.port)
    print(f"local S3 server (moto) on {endpoint}; bucket {BUCKET}")
    objects = _fill_bucket(endpoint, args.images)
    manifest = _write_files(workdir, endpoint, objects)
    config = str(workdir / "orchestration_pkg.yaml")
    wd = shlex.quote(str(workdir))
    _cli("--config", config, "register", str(manifest), "--folder", "demo", "--ignore-errors")
    _cli(
        "--config",
        config,
        "register",
        str(manifest),
        "--folder",
        "demo",
        "--ignore-errors",
        "--json",
    )
    _cli("--config", config, "folders")
    _cli("--config", config, "files", "demo", "--limit", "5")
    _cli("--config", config, "presign", "demo", objects[0][0], "--ttl", "900")
    print("\nRe-running the same manifest registered nothing twice (see 'unchanged' above).")
    serve = f".venv/bin/python -m orchestration_pkg.demo --serve --port 9090 --workdir {wd}"
    dagster = (
        f"ORCHESTRATION_PKG_CONFIG={shlex.quote(config)} .venv/bin/dagster dev -w workspace.yaml"
    )
    if args.serve:
        print("To explore in Dagster, start the UI in another terminal (or: make dev):")
        print(f"  {dagster}")
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
        try:
            print(f"\nserving S3 on {endpoint}; Ctrl-C to stop it", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    else:
        print("To explore in Dagster: make dev (the S3 server and the UI, in one command);")
        print("or by hand, keeping the S3 server running while the UI runs:")
        print(f"  {serve}   # terminal 1")
        print(f"  {dagster}   # terminal 2")
        print(
            f"\nNote: the local S3 server on {endpoint} stops now, as the demo exits: the"
            " presigned URL above stops working and `integrations test` against"
            f" {config} fails. To keep it running: {serve}"
        )
    server.stop()  # type: ignore[attr-defined]
    print(f"S3 server on {endpoint} stopped.")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
