"""Dagster side of ``watch:``: batch partitions, the watch sensor's cursor and run keys, the
folder asset's registration and metadata, the translator, the bucket observation, and the
manifest sensor's bounded cursor."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_sensor_context

from orchestration_pkg import CatalogTranslator, build_definitions
from orchestration_pkg.assets import folders as folder_assets
from orchestration_pkg.assets.naming import DEFAULT_NAMES, DefinitionNames
from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import ManifestWatch
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.s3.storage import S3Storage
from orchestration_pkg.sensors.manifest_sensor import ManifestCursor, scan_manifests
from orchestration_pkg.sensors.watch_sensor import (
    MAX_FILES_PER_BATCH,
    MAX_VIDEOS_PER_BATCH,
    WatchCursor,
    chunk,
)
from tests.media import image_bytes

FOLDER_KEY = AssetKey(["orchestration_pkg", "folder", "lake"])


def _config(tmp_path, bucket, *, ignore_errors=True, max_keys=2):
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {bucket.name}, region: us-east-1,"
        f" endpoint_url: '{bucket.endpoint}', auth: {{method: access_key,"
        " access_key_id: testing, secret_access_key: testing},"
        f" watch: {{folder: lake, prefix: raw/, max_keys_per_tick: {max_keys},"
        f" ignore_errors: {str(ignore_errors).lower()}}}}}\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def setup(tmp_path, s3_bucket):
    for i in range(5):
        s3_bucket.put(f"raw/img{i}.png", image_bytes(10 + i, 20, "PNG"), "image/png")
    config = _config(tmp_path, s3_bucket)
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield config, s3_bucket, catalog
    catalog.dispose()


def _tick(defs, instance, cursor, names=DEFAULT_NAMES):
    sensor = defs.resolve_sensor_def(names.watch_sensor("acme"))
    platform = defs.resources[names.resource_key]
    with build_sensor_context(
        instance=instance, cursor=cursor, resources={names.resource_key: platform}
    ) as ctx:
        return sensor(ctx)


def _pass(defs, instance, cursor=None, ticks=3):
    """``ticks`` sensor ticks from ``cursor``: (all run requests, partition adds, cursor)."""
    requests, added = [], []
    for _ in range(ticks):
        result = _tick(defs, instance, cursor)
        requests += result.run_requests or []
        added += [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]
        cursor = result.cursor
    return requests, added, cursor


def _run(defs, instance, request, names=DEFAULT_NAMES):
    instance.add_dynamic_partitions(names.batches("acme"), [request.partition_key])
    return defs.resolve_job_def(names.watch_job("acme")).execute_in_process(
        run_config=request.run_config,
        partition_key=request.partition_key,
        instance=instance,
        raise_on_error=False,
    )


def _keys(request) -> list[str]:
    return request.run_config["ops"][FOLDER_KEY.to_python_identifier()]["config"]["keys"]


def test_sensor_progresses_by_cursor_and_dedupes_by_run_key(setup):
    config, bucket, catalog = setup
    defs = build_definitions(config)
    with DagsterInstance.ephemeral() as instance:
        first = _tick(defs, instance, None)
        again = _tick(defs, instance, None)  # the same tick evaluated twice: same run keys
        assert [r.run_key for r in first.run_requests] == [r.run_key for r in again.run_requests]
        assert WatchCursor.load(first.cursor).after == "raw/img1.png"
        requests, added, cursor = _pass(defs, instance, first.cursor, ticks=2)
        requests = first.run_requests + requests
        # max_keys_per_tick=2: three ticks cover the 5 objects, the third wraps the cursor
        assert sorted(k for r in requests for k in _keys(r)) == [
            f"raw/img{i}.png" for i in range(5)
        ]
        assert WatchCursor.load(cursor) == WatchCursor(after="", passes=1)
        assert len(cursor) < 200
        assert all(r.run_key == r.partition_key for r in requests)
        assert set(added) == {r.partition_key for r in requests[1:]}
        for request in requests:
            run = _run(defs, instance, request)
            assert run.success
        assert catalog.count_files("lake") == 5
        # unchanged objects after the materializations: no request in a whole pass
        assert _pass(defs, instance, cursor)[0] == []
        bucket.put("raw/img3.png", image_bytes(99, 9, "PNG"), "image/png")  # overwritten
        changed, _, _ = _pass(defs, instance, cursor)
        assert [_keys(r) for r in changed] == [["raw/img3.png"]]
        assert changed[0].run_key not in {r.run_key for r in requests}


def test_batches_never_exceed_the_engine_limits():
    objects = [ObjectInfo(key=f"a/{i:05}.png", etag=str(i), size=1) for i in range(2500)]
    objects += [ObjectInfo(key=f"b/{i:05}.mp4", etag=str(i), size=1) for i in range(250)]
    batches = chunk(objects)
    assert sum(len(b.objects) for b in batches) == 2750
    assert all(len(b.objects) <= MAX_FILES_PER_BATCH for b in batches)
    assert all(b.videos <= MAX_VIDEOS_PER_BATCH for b in batches)
    assert len({b.partition_key for b in batches}) == len(batches)
    assert [b.partition_key for b in chunk(objects)] == [b.partition_key for b in batches]


def test_partition_registers_exactly_its_keys_with_preview_and_errors(setup):
    config, bucket, catalog = setup
    defs = build_definitions(config)
    with DagsterInstance.ephemeral() as instance:
        (request,) = _tick(defs, instance, None).run_requests
        cfg = request.run_config["ops"][FOLDER_KEY.to_python_identifier()]["config"]
        cfg["keys"].append("raw/gone.png")  # a key that vanished before the run
        cfg["etags"].append("x")
        cfg["sizes"].append(3)
        run = _run(defs, instance, request)
        assert run.success  # ignore_errors (the default): the run succeeds, the check fails
        assert catalog.count_files("lake") == 2
        (mat,) = run.get_asset_materialization_events()
        md = mat.materialization.metadata
        assert (md["created"].value, md["failed"].value) == (2, 1)
        preview = [r.data for r in md["preview"].value.records]
        assert [r["key"] for r in preview] == ["raw/img0.png", "raw/img1.png"]
        assert preview[0]["dimensions"] == "10×20" and preview[0]["kind"] == "image"
        (error,) = md["unit_errors"].value.records
        assert error.data["code"] == "not_found" and "gone.png" in error.data["url"]
        assert "created" in md["summary"].value
        checks = run.get_asset_check_evaluations()
        assert [(c.check_name, c.passed) for c in checks] == [("no_unit_errors", False)]


def test_strict_watch_fails_the_run(tmp_path, s3_bucket):
    s3_bucket.put("raw/a.png", image_bytes(4, 4, "PNG"), "image/png")
    config = _config(tmp_path, s3_bucket, ignore_errors=False)
    defs = build_definitions(config)
    with DagsterInstance.ephemeral() as instance:
        (request,) = _tick(defs, instance, None).run_requests
        cfg = request.run_config["ops"][FOLDER_KEY.to_python_identifier()]["config"]
        cfg["keys"].append("raw/gone.png")
        run = _run(defs, instance, request)
        assert not run.success
        failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
        job = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").list_jobs()[0]
        text = failure.event_specific_data.error_display_string
        assert job.status.value == "FAILED" and job.job_id in text and "gone.png" in text


class _Renamed(CatalogTranslator):
    def get_asset_key(self, folder):
        return AssetKey(["media", folder.name])

    def get_group_name(self, folder):
        return "media_lake"


def test_translator_renames_keys_and_groups(setup):
    config, _, _ = setup
    defs = build_definitions(config, translator=_Renamed(key_prefix="acme_co"))
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    key = AssetKey(["media", "lake"])
    assert graph.get(key).group_name == "media_lake"
    assert AssetKey(["acme_co", "bucket", "acme"]) in graph.get(key).parent_keys
    with DagsterInstance.ephemeral() as instance:
        names = DefinitionNames("acme_co")  # names scoped by the translator's key prefix
        (request,) = _tick(defs, instance, None, names).run_requests
        assert key.to_python_identifier() in request.run_config["ops"]
        run = _run(defs, instance, request, names)
        assert run.success
        assert [m.asset_key for m in run.get_asset_materialization_events()] == [key]


def test_definitions_with_and_without_watch(setup, tmp_path):
    config, _, _ = setup
    defs = build_definitions(config)
    Definitions.validate_loadable(defs)
    node = defs.resolve_asset_graph().get(FOLDER_KEY)
    assert node.group_name == "acme" and "s3" in node.kinds
    assert defs.resolve_schedule_def("watch_sync_acme")
    plain = tmp_path / "plain.yaml"
    plain.write_text(f"catalog: sqlite:///{tmp_path / 'p.db'}\nintegrations: []\n")
    Definitions.validate_loadable(build_definitions(plain))


def test_sync_schedule_job_applies_deletions(setup):
    config, bucket, catalog = setup
    defs = build_definitions(config)
    job = defs.resolve_job_def("watch_sync_job_acme")
    assert job.execute_in_process().success
    assert catalog.count_files("lake") == 5
    bucket.client.delete_object(Bucket=bucket.name, Key="raw/img0.png")
    assert job.execute_in_process().success
    assert catalog.count_files("lake") == 4  # on_delete: mark (the default)


def test_bucket_observation_reads_one_capped_page(setup, monkeypatch):
    config, bucket, _ = setup
    monkeypatch.setattr(folder_assets, "OBSERVE_CAP", 2)
    defs = build_definitions(config)
    platform = defs.resources["platform"]
    listed = []
    real = S3Storage.list

    def counting(self, *args, **kwargs):
        for info in real(self, *args, **kwargs):
            listed.append(info.key)
            yield info

    monkeypatch.setattr(S3Storage, "list", counting)
    from dagster._core.definitions.observe import observe  # not re-exported by dagster

    key = AssetKey(["orchestration_pkg", "bucket", "acme"])
    bucket_asset = next(a for a in defs.assets if getattr(a, "key", None) == key)

    def version():
        result = observe([bucket_asset], resources={"platform": platform})
        (event,) = result.get_asset_observation_events()
        return event.asset_observation_data.asset_observation.tags["dagster/data_version"]

    first = version()
    assert len(listed) == 2  # never a full listing
    assert version() == first
    bucket.put("raw/img0.png", b"changed", "image/png")
    assert version() != first


class _FakeStorage:
    def __init__(self, keys):
        self.keys = keys

    def list(self, prefix="", start_after=""):
        for key in self.keys:
            if key > start_after:
                yield ObjectInfo(key=key, size=10, etag=f"e-{key[-6:]}")


def test_manifest_sensor_cursor_stays_bounded():
    keys = sorted(f"manifests/{'x' * 150}-{i:06}.json" for i in range(3000))
    storage = _FakeStorage(keys)
    watch = ManifestWatch(max_keys_per_tick=250)
    cursor, found = ManifestCursor(), 0
    for _ in range(12):  # one whole pass and then some
        new, cursor = scan_manifests(storage, watch, ManifestCursor.load(cursor.dump()))
        found += len(new)
        assert len(cursor.dump()) < 4096
    assert found == 3000  # every manifest requested once in the first pass
    # the most recent ones are remembered: a tick right after them requests nothing
    last = ManifestCursor(after=keys[-101], seen=cursor.seen)
    assert scan_manifests(storage, ManifestWatch(max_keys_per_tick=50), last)[0] == []


def test_a_changed_object_keeps_what_a_manifest_gave_it(setup, tmp_path):
    import json

    from orchestration_pkg.core.engine import RegistrationEngine
    from orchestration_pkg.core.manifest import read_manifest

    config, bucket, catalog = setup
    defs = build_definitions(config)
    manifest = tmp_path / "m.json"
    item = {"objectUrl": f"s3://{bucket.name}/raw/img0.png", "title": "first light"}
    manifest.write_text(json.dumps({"images": [item]}), encoding="utf-8")
    storage = defs.resources["platform"].storage("acme")
    RegistrationEngine(catalog, storage).register(read_manifest(manifest), "lake")
    bucket.put("raw/img0.png", image_bytes(30, 30, "PNG"), "image/png")  # overwritten
    with DagsterInstance.ephemeral() as instance:
        (request,) = _tick(defs, instance, None).run_requests
        assert _run(defs, instance, request).success
    files = {f.key: f for f in catalog.iter_files("lake")}
    assert (files["raw/img0.png"].title, files["raw/img0.png"].width) == ("first light", 30)
    assert files["raw/img1.png"].title is None


def test_a_partition_materialized_without_run_config_registers_its_batch_again(setup):
    """ "Materialize" on a partition in the UI (or a backfill) gives no run config: the run
    takes the batch from the sensor's run of that partition instead of failing."""
    config, bucket, catalog = setup
    defs = build_definitions(config)
    job = defs.resolve_job_def("watch_job_acme")
    with DagsterInstance.ephemeral() as instance:
        (request,) = _tick(defs, instance, None).run_requests
        instance.add_dynamic_partitions("acme_batches", ["never-sensed"])
        orphan = job.execute_in_process(
            partition_key="never-sensed", instance=instance, raise_on_error=False
        )
        assert not orphan.success  # no earlier run of that partition: nothing to register
        failure = next(e for e in orphan.all_events if e.event_type_value == "STEP_FAILURE")
        assert "no earlier run of this partition" in failure.event_specific_data.error.message
        assert _run(defs, instance, request).success
        again = job.execute_in_process(partition_key=request.partition_key, instance=instance)
        (mat,) = again.get_asset_materialization_events()
        md = mat.materialization.metadata
        assert (md["unchanged"].value, md["created"].value) == (len(_keys(request)), 0)
        preview = [r.data["key"] for r in md["preview"].value.records]
        assert preview == _keys(request)
