"""Prefix sync against real emulators (moto S3, GCS emulator, Azurite) and real catalogs.

Requests are counted by a proxy in front of the emulator: a re-sync of an unchanged bucket
must cost one listing and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestration_pkg.core.catalog import Catalog, FileRecord, sync_queries
from orchestration_pkg.core.config import DirectIntegrationConfig
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.s3 import storage as s3_storage
from orchestration_pkg.core.registration import build_storage
from orchestration_pkg.core.sync import PrefixSync, SyncResult
from tests.cli_run import run_cli
from tests.media import image_bytes

PNG = "image/png"


@pytest.fixture
def sqlite_catalog(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield cat
    cat.dispose()


@pytest.fixture
def s3(s3_bucket, s3_config_factory, fault_proxy):
    """(bucket, storage whose requests pass through a counting proxy, proxy); prefix raw/."""
    proxy = fault_proxy(s3_bucket.endpoint)
    storage = build_storage(s3_config_factory(prefix="raw/", endpoint_url=proxy.url))
    return s3_bucket, storage, proxy


def sync(
    catalog: Catalog, storage: Any, *, prefix: str = "", on_delete: str = "mark", **opts: Any
) -> SyncResult:
    result = PrefixSync(catalog, storage).run(
        "lake",
        prefix,
        key_prefix=storage.prefix + prefix,
        on_delete=on_delete,  # type: ignore[arg-type]
        options=RegistrationOptions(**opts),
    )
    assert result.job.status is JobStatus.DONE, result.job
    return result


def counts(result: SyncResult) -> tuple[int, int, int, int, int]:
    return result.added, result.updated, result.removed, result.unchanged, result.failed


def files(catalog: Catalog, **kw: Any) -> dict[str, FileRecord]:
    return {f.key: f for f in catalog.iter_files("lake", **kw)}


def test_first_sync_adds_all_and_an_unchanged_resync_costs_one_listing(catalog, s3):
    bucket, storage, proxy = s3
    sizes = {"raw/a.png": (30, 20), "raw/b c.png": (8, 6), "raw/ü/日本.png": (5, 4)}
    for key, (w, h) in sizes.items():
        bucket.put(key, image_bytes(w, h), PNG)
    bucket.put("elsewhere/x.png", image_bytes(3, 3), PNG)  # outside the integration prefix

    first = sync(catalog, storage)
    assert counts(first) == (3, 0, 0, 0, 0)
    rows = files(catalog)
    assert {k: (r.width, r.height) for k, r in rows.items()} == sizes
    assert all(r.etag and r.size and r.integration == "acme" for r in rows.values())

    proxy.reset()
    again = sync(catalog, storage)
    assert counts(again) == (0, 0, 0, 3, 0)
    assert again.listed == 3 and again.job.total == 3
    # one ListObjectsV2 page and nothing else: no HEAD, no GET of an object
    assert proxy.count() == proxy.count("GET", "list-type=2") == 1
    assert files(catalog) == rows  # compare=False on timestamps: contents equal


def test_overwritten_object_is_updated_and_reprobed(catalog, s3):
    bucket, storage, proxy = s3
    bucket.put("raw/a.png", image_bytes(30, 20), PNG)
    bucket.put("raw/b.png", image_bytes(7, 7), PNG)
    sync(catalog, storage)
    before = files(catalog)["raw/a.png"]

    bucket.put("raw/a.png", image_bytes(64, 48), PNG)
    proxy.reset()
    result = sync(catalog, storage)
    assert counts(result) == (0, 1, 0, 1, 0)
    after = files(catalog)["raw/a.png"]
    assert (after.width, after.height) == (64, 48)
    assert after.etag != before.etag and after.size != before.size
    assert after.id == before.id
    assert proxy.count("HEAD") == 0  # the listing stands in for a HEAD; one ranged GET probes


def test_changed_object_keeps_what_a_manifest_gave_it(catalog, s3):
    bucket, storage, _ = s3
    bucket.put("raw/a.png", image_bytes(30, 20), PNG)
    with catalog.writer(catalog.ensure_folder("lake").id) as w:
        w.upsert(
            [
                FileRecord(
                    object_url=f"s3://{bucket.name}/raw/a.png",
                    key="raw/a.png",
                    integration="acme",
                    title="the title",
                    client_metadata={"camera": 1},
                )
            ]
        )
    assert counts(sync(catalog, storage)) == (0, 1, 0, 0, 0)  # no ETag recorded: changed
    row = files(catalog)["raw/a.png"]
    assert (row.title, row.client_metadata, row.width) == ("the title", {"camera": 1}, 30)


@pytest.mark.parametrize("mode", ["mark", "remove", "keep"])
def test_deleted_objects_by_on_delete_mode(catalog, s3, mode):
    bucket, storage, _ = s3
    for name in ("a", "b", "c"):
        bucket.put(f"raw/{name}.png", image_bytes(4, 4), PNG)
    sync(catalog, storage, fetch="none", on_delete=mode)
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/b.png")

    result = sync(catalog, storage, fetch="none", on_delete=mode)
    assert counts(result) == (0, 0, 0 if mode == "keep" else 1, 2, 0)
    shown = files(catalog)
    every = files(catalog, include_removed=True)
    if mode == "mark":
        assert set(shown) == {"raw/a.png", "raw/c.png"}
        assert every["raw/b.png"].removed_at is not None
        assert every["raw/a.png"].removed_at is None
        assert catalog.count_files("lake") == catalog.get_folder("lake").file_count == 2
        assert catalog.count_files("lake", include_removed=True) == 3
        # marked once: a later sync neither counts nor re-marks it
        stamp = every["raw/b.png"].removed_at
        assert sync(catalog, storage, fetch="none").removed == 0
        assert files(catalog, include_removed=True)["raw/b.png"].removed_at == stamp
    elif mode == "remove":
        assert set(shown) == set(every) == {"raw/a.png", "raw/c.png"}
    else:
        assert set(shown) == {"raw/a.png", "raw/b.png", "raw/c.png"}
        assert every["raw/b.png"].removed_at is None


def test_deleted_then_recreated_object_comes_back(catalog, s3):
    bucket, storage, _ = s3
    bucket.put("raw/a.png", image_bytes(10, 10), PNG)
    bucket.put("raw/b.png", image_bytes(4, 4), PNG)
    sync(catalog, storage)
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/a.png")
    assert sync(catalog, storage).removed == 1
    assert "raw/a.png" not in files(catalog)

    bucket.put("raw/a.png", image_bytes(12, 9), PNG)
    result = sync(catalog, storage)
    assert counts(result) == (0, 1, 0, 1, 0)
    back = files(catalog)["raw/a.png"]
    assert back.removed_at is None and (back.width, back.height) == (12, 9)

    # the same bytes re-uploaded (same ETag) also come back
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/b.png")
    sync(catalog, storage, fetch="none")
    bucket.put("raw/b.png", image_bytes(4, 4), PNG)
    assert counts(sync(catalog, storage, fetch="none")) == (0, 1, 0, 1, 0)
    assert files(catalog)["raw/b.png"].removed_at is None


ODD_KEYS = [
    "raw/A.png",
    "raw/a.png",
    "raw/B c.png",
    "raw/b+c.png",
    "raw/b c.png",
    "raw/a b/c.png",
    "raw/a-b.png",
    "raw/a_b.png",
    "raw/a.b.png",
    "raw/cafe.png",
    "raw/café.png",
    "raw/caff.png",
    "raw/über.png",
    "raw/ueber.png",
    "raw/Über.png",
    "raw/日本.png",
    "raw/日本/x.png",
    "raw/Z.png",
    "raw/z.png",
    "raw/~.png",
    "raw/0.png",
]


def test_key_order_agrees_between_listing_and_catalog(catalog, s3, monkeypatch):
    """Spaces, '+', non-ASCII and case: a collation-ordered catalog would see false adds and
    removals here. Small pages on both sides so page boundaries fall between tricky keys."""
    bucket, storage, proxy = s3
    monkeypatch.setattr(sync_queries, "PAGE_SIZE", 4)
    monkeypatch.setattr(s3_storage, "LIST_PAGE_SIZE", 3)
    for key in ODD_KEYS:
        bucket.put(key, key.encode(), "text/plain")
    assert counts(sync(catalog, storage, fetch="none")) == (len(ODD_KEYS), 0, 0, 0, 0)
    proxy.reset()
    assert counts(sync(catalog, storage, fetch="none")) == (0, 0, 0, len(ODD_KEYS), 0)
    assert proxy.count() == proxy.count("GET", "list-type=2")

    for key in ("raw/café.png", "raw/B c.png", "raw/日本.png"):
        bucket.client.delete_object(Bucket=bucket.name, Key=key)
    bucket.put("raw/b+c.png", b"changed", "text/plain")
    bucket.put("raw/Ünew.png", b"new", "text/plain")
    result = sync(catalog, storage, fetch="none", on_delete="remove")
    assert counts(result) == (1, 1, 3, len(ODD_KEYS) - 4, 0)
    assert set(files(catalog)) == (
        set(ODD_KEYS) - {"raw/café.png", "raw/B c.png", "raw/日本.png"}
    ) | {"raw/Ünew.png"}


def test_rows_of_other_integrations_and_prefixes_are_left_alone(catalog, s3):
    bucket, storage, _ = s3
    bucket.put("raw/sub/a.png", image_bytes(4, 4), PNG)
    folder = catalog.ensure_folder("lake")
    ghosts = [
        # another integration's row, inside our key range
        FileRecord(
            object_url="s3://other/raw/sub/ghost.png", key="raw/sub/ghost.png", integration="other"
        ),
        # our integration, outside the synced prefix
        FileRecord(
            object_url=f"s3://{bucket.name}/raw/zzz.png", key="raw/zzz.png", integration="acme"
        ),
        FileRecord(object_url=f"s3://{bucket.name}/raw/sub", key="raw/sub", integration="acme"),
    ]
    with catalog.writer(folder.id) as w:
        w.upsert(ghosts)
    result = sync(catalog, storage, prefix="sub/", on_delete="remove")
    assert counts(result) == (1, 0, 0, 0, 0)
    assert set(files(catalog)) == {"raw/sub/a.png", "raw/sub/ghost.png", "raw/zzz.png", "raw/sub"}

    bucket.client.delete_object(Bucket=bucket.name, Key="raw/sub/a.png")
    assert sync(catalog, storage, prefix="sub/", on_delete="remove").removed == 1
    assert set(files(catalog)) == {"raw/sub/ghost.png", "raw/zzz.png", "raw/sub"}


def test_failed_strict_sync_changes_nothing(sqlite_catalog, s3):
    bucket, storage, _ = s3
    bucket.put("raw/a.png", image_bytes(4, 4), PNG)
    bucket.put("raw/b.png", image_bytes(4, 4), PNG)
    sync(sqlite_catalog, storage)
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/a.png")
    bucket.put("raw/c.png", b"not a png at all", PNG)  # content contradicts the kind
    bucket.put("raw/d.png", image_bytes(5, 5), PNG)

    result = PrefixSync(sqlite_catalog, storage).run("lake", key_prefix="raw/")
    assert result.job.status is JobStatus.FAILED
    assert (result.added, result.removed, result.failed) == (0, 0, 1)
    assert set(files(sqlite_catalog)) == {"raw/a.png", "raw/b.png"}  # nothing added or marked

    lenient = sync(sqlite_catalog, storage, ignore_errors=True)
    assert counts(lenient) == (1, 0, 1, 1, 1)
    assert "c.png" in lenient.job.unit_errors[0].url
    assert set(files(sqlite_catalog)) == {"raw/b.png", "raw/d.png"}


def _provider(name: str, request: pytest.FixtureRequest) -> tuple[Any, Any, Any]:
    """(bucket-like with put, storage with prefix raw/, delete(key))."""
    if name == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        cfg = request.getfixturevalue("s3_config_factory")(prefix="raw/")
        return bucket, cfg, lambda k: bucket.client.delete_object(Bucket=bucket.name, Key=k)
    if name == "gcs":
        bucket = request.getfixturevalue("gcs_bucket")
        cfg = request.getfixturevalue("gcs_config_factory")(prefix="raw/")
        return bucket, cfg, lambda k: bucket.client.bucket(bucket.name).blob(k).delete()
    container = request.getfixturevalue("azure_container")
    cfg = request.getfixturevalue("azure_config_factory")(prefix="raw/")
    return container, cfg, lambda k: container.client.delete_blob(k)


@pytest.mark.parametrize("provider", ["s3", "gcs", "azure"])
def test_add_update_delete_flow_on_every_provider(provider, request, sqlite_catalog):
    bucket, cfg, delete = _provider(provider, request)
    storage = build_storage(cfg)
    bucket.put("raw/a.png", image_bytes(10, 10), PNG)
    bucket.put("raw/b é.png", image_bytes(20, 10), PNG)
    bucket.put("raw/c.png", image_bytes(30, 10), PNG)
    assert counts(sync(sqlite_catalog, storage)) == (3, 0, 0, 0, 0)
    # the probe's ETag and size are the listing's: an unchanged re-sync finds nothing to do
    assert counts(sync(sqlite_catalog, storage)) == (0, 0, 0, 3, 0)

    bucket.put("raw/a.png", image_bytes(11, 12), PNG)
    delete("raw/c.png")
    bucket.put("raw/d.png", image_bytes(40, 10), PNG)
    assert counts(sync(sqlite_catalog, storage)) == (1, 1, 1, 1, 0)
    rows = files(sqlite_catalog)
    assert {k: (r.width, r.height) for k, r in rows.items()} == {
        "raw/a.png": (11, 12),
        "raw/b é.png": (20, 10),
        "raw/d.png": (40, 10),
    }
    assert rows["raw/b é.png"].object_url == storage.canonical_url("raw/b é.png")
    assert counts(sync(sqlite_catalog, storage)) == (0, 0, 0, 3, 0)


def test_direct_access_cannot_watch():
    with pytest.raises(ValueError, match="cannot watch a prefix"):
        DirectIntegrationConfig(name="p", provider="direct", watch={"folder": "x"})


@pytest.fixture
def icu_catalog(postgres_server):
    """A PostgreSQL catalog whose database collation is ICU en-US (not byte order)."""
    import uuid

    dbname = f"op_icu_{uuid.uuid4().hex[:8]}"
    with postgres_server.admin() as conn:
        conn.execute(
            f"CREATE DATABASE \"{dbname}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.utf8'"
        )
    cat = Catalog(postgres_server.url(dbname))
    try:
        yield cat
    finally:
        cat.dispose()
        with postgres_server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def test_key_order_holds_under_a_linguistic_database_collation(icu_catalog, s3, monkeypatch):
    """en-US sorts 'a' < 'B' < 'b' and ignores case/accents first; listings sort bytes. The
    catalog side compares with COLLATE "C", so the merge still lines up."""
    bucket, storage, _ = s3
    monkeypatch.setattr(sync_queries, "PAGE_SIZE", 4)
    for key in ODD_KEYS:
        bucket.put(key, key.encode(), "text/plain")
    with icu_catalog.engine.connect() as conn:  # the database really sorts differently
        import sqlalchemy as sa

        ordered = conn.scalars(
            sa.text("SELECT k FROM unnest(CAST(:keys AS text[])) k ORDER BY k"),
            {"keys": ODD_KEYS},
        ).all()
    assert ordered != sorted(ODD_KEYS)
    assert counts(sync(icu_catalog, storage, fetch="none")) == (len(ODD_KEYS), 0, 0, 0, 0)
    assert counts(sync(icu_catalog, storage, fetch="none")) == (0, 0, 0, len(ODD_KEYS), 0)


def test_watch_block_refuses_unknown_fields(s3_config_factory):
    cfg = s3_config_factory(watch={"folder": "lake", "prefix": "raw/"})
    assert (cfg.watch.folder, cfg.watch.prefix, cfg.watch.on_delete) == ("lake", "raw/", "mark")
    with pytest.raises(ValueError, match="notifications"):
        s3_config_factory(watch={"folder": "lake", "notifications": {"queue": "q"}})
    with pytest.raises(ValueError, match="on_delete"):
        s3_config_factory(watch={"on_delete": "purge"})


# -- the CLI, through its installed entry point --------------------------------------------------


@pytest.fixture
def cli_config(tmp_path, s3_bucket):
    s3_bucket.put("data/raw/a.png", image_bytes(30, 20), PNG)
    s3_bucket.put("data/raw/b ü.png", image_bytes(8, 6), PNG)
    s3_bucket.put("data/other.png", image_bytes(3, 3), PNG)
    auth = "auth: {method: access_key, access_key_id: testing, secret_access_key: testing}"
    common = f"provider: s3, bucket: {s3_bucket.name}, endpoint_url: '{s3_bucket.endpoint}'"
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'cat.db'}\n"
        "integrations:\n"
        f"  - name: acme\n    {common.replace(', ', chr(10) + '    ')}\n"
        "    prefix: data/\n"
        f"    {auth}\n"
        "    watch:\n      folder: lake\n      prefix: raw/\n      on_delete: mark\n"
        f"  - {{name: bare, {common}, {auth}}}\n",
        encoding="utf-8",
    )
    return config, s3_bucket


def test_cli_sync_json_watch_defaults_and_exit_codes(cli_config):
    config, bucket = cli_config
    proc = run_cli(config, "sync", "acme", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"job_id", "status", "added", "updated", "removed", "unchanged"}
    assert set(doc) >= {"failed", "unit_errors"}
    assert (doc["status"], doc["added"], doc["unchanged"], doc["failed"]) == ("DONE", 2, 0, 0)
    assert doc["folder"] == "lake" and doc["prefix"] == "data/raw/"  # from watch:
    status = json.loads(run_cli(config, "status", doc["job_id"], "--json").stdout)
    assert status["status"] == "DONE" and status["folder"] == "lake"

    bucket.client.delete_object(Bucket=bucket.name, Key="data/raw/b ü.png")
    proc = run_cli(config, "sync", "acme", "--json")  # watch.on_delete: mark
    doc = json.loads(proc.stdout)
    assert (doc["added"], doc["removed"], doc["unchanged"]) == (0, 1, 1)
    status = json.loads(run_cli(config, "status", doc["job_id"], "--json").stdout)
    assert (status["stats"]["listed"], status["stats"]["removed"]) == (1, 1)
    text = run_cli(config, "status", doc["job_id"]).stdout
    assert "sync: listed 1 · removed 1" in text and "media:" not in text
    shown = json.loads(run_cli(config, "files", "lake", "--json").stdout)
    assert [f["key"] for f in shown] == ["data/raw/a.png"] and shown[0]["removed_at"] is None
    every = json.loads(run_cli(config, "files", "lake", "--json", "--include-removed").stdout)
    assert {f["key"]: bool(f["removed_at"]) for f in every} == {
        "data/raw/a.png": False,
        "data/raw/b ü.png": True,
    }
    plain = run_cli(config, "files", "lake", "--include-removed")
    assert plain.returncode == 0 and "removed" in plain.stdout

    # --on-delete and --prefix override watch:
    proc = run_cli(config, "sync", "acme", "--on-delete", "remove", "--prefix", "", "--json")
    doc = json.loads(proc.stdout)
    assert (doc["added"], doc["removed"], doc["unchanged"]) == (1, 1, 1), doc  # other.png

    # a bad object: strict → FAILED, exit 1; --ignore-errors → exit 0 with a warning
    bucket.put("data/raw/c.png", b"not a png", PNG)
    proc = run_cli(config, "sync", "acme", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["status"] == "FAILED"
    assert proc.stderr.count("\n") == 1 and "c.png" in proc.stderr
    proc = run_cli(config, "sync", "acme", "--ignore-errors")
    assert proc.returncode == 0, proc.stderr
    assert "failed 1" in proc.stdout and proc.stderr.startswith("warning:")


def test_cli_sync_usage_errors(cli_config):
    config, bucket = cli_config
    proc = run_cli(config, "sync", "bare")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--folder" in proc.stderr and "watch.folder" in proc.stderr
    proc = run_cli(config, "sync", "acme", "--on-delete", "purge")
    assert proc.returncode == 2 and "keep, mark or remove" in proc.stderr
    proc = run_cli(config, "sync", "bare", "--folder", "bad/name")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    # every object failing and nothing else to count: exit 1
    bucket.put("x/bad.png", b"nope", PNG)
    proc = run_cli(config, "sync", "bare", "--folder", "f", "--prefix", "x/", "--ignore-errors")
    assert proc.returncode == 1 and "nothing registered" in proc.stderr


@pytest.mark.parametrize("fetch, heads, gets", [("head", 2, 0), ("none", 0, 0), ("auto", 0, 1)])
def test_fetch_modes_cost_what_they_say(sqlite_catalog, s3, fetch, heads, gets):
    """auto: a ranged GET per image, nothing for a non-media file (the listing stands in for
    its HEAD); head: one HEAD each; none: the listing only."""
    bucket, storage, proxy = s3
    bucket.put("raw/a.png", image_bytes(6, 5), PNG)
    bucket.put("raw/notes.bin", b"\x00" * 10, "application/octet-stream")
    proxy.reset()
    result = sync(sqlite_catalog, storage, fetch=fetch)
    assert counts(result) == (2, 0, 0, 0, 0)
    assert proxy.count("HEAD") == heads
    assert proxy.count("GET") - proxy.count("GET", "list-type=2") == gets
    rows = files(sqlite_catalog)
    assert rows["raw/notes.bin"].size == 10 and rows["raw/notes.bin"].etag
    assert rows["raw/a.png"].width == (6 if fetch == "auto" else None)
