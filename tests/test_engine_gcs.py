"""The engine on Google Cloud Storage (gcp-storage-emulator): same code path as S3."""

from __future__ import annotations

import json
from urllib.parse import quote

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.gcs.storage import GCSStorage
from tests.media import image_bytes


def test_gcs_registration_probes_headers_and_is_idempotent(
    tmp_path, gcs_bucket, gcs_config_factory
):
    objects = {
        "lab/a b.png": (12, 8, "PNG"),
        "lab/ñ.jpg": (5, 4, "JPEG"),
        "lab/r.jpg": (9, 6, "JPEG"),
    }
    for key, (w, h, fmt) in objects.items():
        gcs_bucket.put(
            key, image_bytes(w, h, fmt, 6 if key == "lab/r.jpg" else None), f"image/{fmt.lower()}"
        )
    urls = [
        f"gs://{gcs_bucket.name}/lab/a b.png",
        f"https://storage.googleapis.com/{gcs_bucket.name}/{quote('lab/ñ.jpg')}",
        f"gs://{gcs_bucket.name}/lab/r.jpg",
        f"gs://{gcs_bucket.name}/lab/missing.png",
        "gs://other-bucket/lab/x.png",
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"url": u} for u in urls]), encoding="utf-8")
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    storage = GCSStorage(gcs_config_factory(prefix="lab/"))
    engine = RegistrationEngine(catalog, storage)
    opts = RegistrationOptions(ignore_errors=True)
    result = engine.register(read_manifest(path), "lab", opts)
    assert result.status is JobStatus.DONE
    assert (result.registered, result.failed) == (3, 2)
    files = {f.key: f for f in catalog.iter_files("lab")}
    assert {k: (f.width, f.height) for k, f in files.items()} == {
        k: (w, h) for k, (w, h, _) in objects.items()
    }
    assert files["lab/r.jpg"].media_metadata["orientation"] == 6
    assert files["lab/a b.png"].object_url == f"gs://{gcs_bucket.name}/lab/a b.png"
    errors = {e.row: e.error for e in result.unit_errors}
    assert "NotFound" in errors[4] and "other-bucket" in errors[5]
    again = engine.register(read_manifest(path), "lab", opts)
    assert (again.created, again.unchanged) == (0, 3)
    catalog.dispose()
