"""The same probers through every provider's read_range (GCS emulator, Azurite, HTTP)."""

from __future__ import annotations

import pytest

from orchestration_pkg.core.config import DirectIntegrationConfig
from orchestration_pkg.core.media.dispatch import probe_object
from orchestration_pkg.core.providers.azure.storage import AzureStorage
from orchestration_pkg.core.providers.direct.storage import DirectStorage
from orchestration_pkg.core.providers.gcs.storage import GCSStorage
from tests.media import blank_pdf_bytes, image_bytes, video_bytes

SAMPLES = {
    "v.mp4": (lambda: video_bytes(48, 32, frames=12, fps=6, faststart=False), "video"),
    "r.jpg": (lambda: image_bytes(30, 20, "JPEG", orientation=8), "image"),
    "d.pdf": (lambda: blank_pdf_bytes(4), "pdf"),
}


def _check(result, kind):
    meta = result.metadata
    assert meta["kind"] == kind
    if kind == "video":
        assert (meta["width"], meta["height"], meta["frame_count"]) == (48, 32, 12)
        assert meta["faststart"] is False
    elif kind == "image":
        assert (meta["display_width"], meta["display_height"]) == (20, 30)
    else:
        assert meta["page_count"] == 4 and meta["page_width"] == 612
    assert result.requests <= 3


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_probing_through_gcs(name, gcs_bucket, gcs_config_factory):
    make, kind = SAMPLES[name]
    gcs_bucket.put(f"m/{name}", make())
    _check(probe_object(GCSStorage(gcs_config_factory()), f"m/{name}"), kind)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_probing_through_azure(name, azure_container, azure_config_factory):
    make, kind = SAMPLES[name]
    azure_container.put(f"m/{name}", make())
    _check(probe_object(AzureStorage(azure_config_factory()), f"m/{name}"), kind)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_probing_through_direct_urls(name, http_files):
    make, kind = SAMPLES[name]
    url = http_files.add(f"/m/{name}", make())
    storage = DirectStorage(
        DirectIntegrationConfig(name="d", provider="direct", allow_hosts=["127.0.0.1"])
    )
    _check(probe_object(storage, storage.parse_url(url)), kind)
