"""Identical rows of a job are probed and written once, and reported as duplicates."""

from __future__ import annotations

import json

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import ManifestItem
from orchestration_pkg.core.providers.s3.storage import S3Storage
from tests.media import image_bytes
from tests.test_cli import run


def test_ten_thousand_copies_of_a_row_cost_one_probe(
    s3_bucket, s3_config_factory, fault_proxy, tmp_path
):
    for name in ("dup.png", "other.png"):
        s3_bucket.put(name, image_bytes(5, 4, "PNG"), "image/png")
    proxy = fault_proxy(s3_bucket.endpoint)
    storage = S3Storage(s3_config_factory(endpoint_url=proxy.url))
    dup = {"url": f"s3://{s3_bucket.name}/dup.png", "title": "same", "client_metadata": {"a": 1}}
    rows = [dup] * 5_000 + [{"url": f"s3://{s3_bucket.name}/other.png"}] + [dup] * 5_000
    # same object, different content: kept (the last one wins in the catalog, as before)
    rows.append({**dup, "title": "renamed"})
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        result = RegistrationEngine(catalog, storage).register(
            read_manifest(path), "lake", RegistrationOptions(fetch="head")
        )
        titles = {f.key: f.title for f in catalog.iter_files("lake")}
    finally:
        catalog.dispose()
    assert result.total == 10_002 and result.failed == 0
    assert result.stats["duplicate_rows"] == 9_999
    assert titles == {"dup.png": "renamed", "other.png": None}
    assert proxy.count("HEAD", "dup.png") == 2  # the first copy and the renamed row
    assert proxy.count("HEAD", "other.png") == 1


def test_duplicates_are_reported_by_the_cli(s3_bucket, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'c.db'}\n"
        f"integrations: [{{name: acme, provider: s3, bucket: {s3_bucket.name}, "
        f"endpoint_url: '{s3_bucket.endpoint}'}}]\n",
        encoding="utf-8",
    )
    manifest = tmp_path / "dupes.csv"
    manifest.write_text("url,title\n" + f"s3://{s3_bucket.name}/a b.png,x\n" * 3, "utf-8")
    args = ["--config", str(config), "register", str(manifest), "--fetch", "none"]
    human = run(*args, "-f", "one")
    assert human.returncode == 0, human.stderr
    assert "2 duplicate row(s) registered once" in human.stdout
    doc = json.loads(run(*args, "-f", "two", "--json").stdout)
    assert doc["stats"]["duplicate_rows"] == 2 and doc["registered"] == 1


def test_rows_differing_only_in_their_number_are_duplicates():
    from orchestration_pkg.core.dedupe import RowDeduper

    dedupe = RowDeduper(limit=2)
    first = ManifestItem(row=1, url="s3://b/a", client_metadata={"x": [1, {"y": 2}]})
    assert not dedupe.repeated("a", first)
    assert dedupe.repeated("a", first.model_copy(update={"row": 9}))
    assert not dedupe.repeated("a", first.model_copy(update={"client_metadata": {"x": 1}}))
    # past its limit it remembers nothing new: copies are registered again, memory stays flat
    assert not dedupe.repeated("c", first)
    assert not dedupe.repeated("c", first)
    assert dedupe.duplicates == 1
