"""The GCS event path: GCS-shaped notifications (attributes + JSON_API_V1 object resource) in a
real Pub/Sub emulator subscription, objects in the GCS emulator, real catalogs; the CLI's
``watch --once`` and the Dagster watch sensor on it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, build_sensor_context

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.notifications import NotificationConsumer
from orchestration_pkg.core.notifications.consumer import consumer_for
from orchestration_pkg.core.notifications.gcs_pubsub import EMULATOR_ENV, PubSubQueue
from orchestration_pkg.core.registration import build_storage
from orchestration_pkg.definitions import build_definitions
from tests.cli_run import run_cli
from tests.media import image_bytes
from tests.notification_helpers import KEYS, PNG, counts, drain, files


@pytest.fixture
def watched(gcs_bucket, gcs_config_factory, gcs_notifications):
    """A consumer factory for integration prefix raw/ on the bucket, notified via Pub/Sub."""

    def make(catalog: Catalog, on_delete: str = "mark", **settings: Any) -> NotificationConsumer:
        notifications = {
            "subscription": gcs_notifications.subscription,
            "emulator_host": gcs_notifications.host,
            **settings,
        }
        watch = {"folder": "lake", "on_delete": on_delete, "notifications": notifications}
        cfg = gcs_config_factory(prefix="raw/", watch=watch)
        return consumer_for(cfg, catalog, build_storage(cfg))

    return make, gcs_bucket, gcs_notifications


def test_pubsub_notifications_register_update_and_remove(catalog, watched, caplog):
    make, bucket, topic = watched
    consumer = make(catalog)
    assert isinstance(consumer.queue, PubSubQueue)
    for key, (w, h) in KEYS.items():
        bucket.put(key, image_bytes(w, h), PNG)
        topic.notify(bucket, key)
    bucket.put("elsewhere/z.png", image_bytes(3, 3), PNG)  # outside the integration prefix
    topic.notify(bucket, "elsewhere/z.png")
    topic.notify(bucket, "raw/a b.png", "OBJECT_METADATA_UPDATE")  # nothing to register
    topic.publish_raw(b"{not json ?X-Goog-Signature=SECRET", eventType="OBJECT_FINALIZE")
    topic.publish_raw(b"{}")  # no attributes: not a GCS notification
    first = drain(consumer)
    assert counts(first) == (3, 0, 0, 0, 0), first
    assert (first.messages, first.poison, first.events, first.ignored) == (7, 2, 4, 1)
    assert first.deleted_messages == 7  # poison acknowledged too (poison: delete)
    rows = files(catalog)
    assert {k: (r.width, r.height) for k, r in rows.items()} == KEYS
    assert all(r.etag and r.size and r.integration == "acme" for r in rows.values())
    assert "SECRET" not in caplog.text and caplog.text.count("poison message") == 2
    assert topic.remaining() == 0

    # overwritten (non-versioned bucket: the old generation's OBJECT_DELETE says so), deleted,
    # and deleted then re-created within one drain (the newer generation wins)
    old = topic.notify(bucket, "raw/a b.png", "OBJECT_DELETE")
    bucket.put("raw/a b.png", image_bytes(9, 8), PNG)
    topic.notify(bucket, "raw/a b.png")
    topic.notify(bucket, "raw/a b.png", "OBJECT_DELETE", overwrittenByGeneration="1")
    assert old["generation"]
    topic.notify(bucket, "raw/x+y.png", "OBJECT_DELETE")
    bucket.client.bucket(bucket.name).delete_blob("raw/x+y.png")
    gone = "raw/ü/日本 +%.png"
    topic.notify(bucket, gone, "OBJECT_DELETE")
    bucket.client.bucket(bucket.name).delete_blob(gone)
    bucket.put(gone, image_bytes(2, 2), PNG)
    topic.notify(bucket, gone)
    second = drain(consumer)
    assert counts(second) == (0, 2, 1, 0, 0), second
    after = files(catalog, include_removed=True)
    assert (after["raw/a b.png"].width, after["raw/a b.png"].id) == (9, rows["raw/a b.png"].id)
    assert after["raw/x+y.png"].removed_at is not None
    assert after[gone].removed_at is None and after[gone].width == 2
    assert topic.remaining() == 0

    # a late delete of an older generation does not remove the newer object
    topic.notify(bucket, gone, "OBJECT_DELETE", objectGeneration="1")
    late = drain(consumer)
    assert (late.removed, late.superseded) == (0, 1)
    assert files(catalog)[gone].removed_at is None


def test_crash_between_inbox_commit_and_ack_redelivers_idempotently(catalog, watched):
    make, bucket, topic = watched
    consumer = make(catalog, visibility_timeout=1)  # the ack deadline of received messages
    for key in ("raw/a.png", "raw/b c.png"):
        bucket.put(key, image_bytes(4, 3), PNG)
        topic.notify(bucket, key)
    real_delete = consumer.queue.delete
    calls: list[int] = []

    def crash_once(messages):
        calls.append(len(messages))
        if len(calls) == 1:
            raise RuntimeError("killed between the inbox commit and the ack")
        return real_delete(messages)

    consumer.queue.delete = crash_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        consumer.drain(RegistrationOptions())
    assert ib.status_counts(catalog, "acme", "lake") == {"pending": 2}  # committed first
    time.sleep(1.5)  # past the ack deadline: Pub/Sub delivers them again
    again = drain(consumer)
    assert (again.messages, again.stored) == (2, 0)  # stored before: no duplicate event
    assert counts(again) == (2, 0, 0, 0, 0) and again.batches == 1
    assert ib.status_counts(catalog, "acme", "lake") == {"done": 2}
    assert set(files(catalog)) == {"raw/a.png", "raw/b c.png"}
    assert topic.remaining() == 0 and calls == [2, 2]


def test_poison_left_comes_back_and_emulator_host_from_the_environment(
    catalog, watched, monkeypatch
):
    make, _, topic = watched
    consumer = make(catalog, poison="leave", visibility_timeout=30)
    topic.publish_raw(b"garbage")
    result = drain(consumer)
    assert (result.messages, result.poison, result.deleted_messages) == (1, 1, 0)
    assert topic.remaining() == 0  # still outstanding (its ack deadline), not acknowledged
    settings = consumer.settings.model_copy(update={"emulator_host": None})
    monkeypatch.setenv(EMULATOR_ENV, topic.host)
    queue = PubSubQueue.for_storage(consumer.storage, settings)
    assert queue.emulator_host == topic.host and queue.credentials is None


# -- the CLI ---------------------------------------------------------------------------------------


def _config(tmp_path: Path, bucket: Any, topic: Any) -> Path:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        f"  - name: acme\n    provider: gcs\n    bucket: {bucket.name}\n"
        f"    endpoint_url: '{bucket.endpoint}'\n    prefix: data/\n"
        "    auth: {method: anonymous}\n"
        "    watch:\n      folder: lake\n      prefix: raw/\n"
        f"      notifications: {{subscription: '{topic.subscription}', "
        f"emulator_host: '{topic.host}'}}\n",
        encoding="utf-8",
    )
    return config


def test_cli_watch_once_on_gcs_notifications(tmp_path, gcs_bucket, gcs_notifications):
    config = _config(tmp_path, gcs_bucket, gcs_notifications)
    for key in ("data/raw/a b.png", "data/other.png"):
        gcs_bucket.put(key, image_bytes(5, 4), PNG)
        gcs_notifications.notify(gcs_bucket, key)
    proc = run_cli(config, "watch", "acme", "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["mode"], doc["status"], doc["prefix"]) == ("notifications", "DONE", "data/raw/")
    assert (doc["added"], doc["messages"], doc["ignored"], doc["poison"]) == (1, 2, 1, 0)
    assert gcs_notifications.remaining() == 0


def test_cli_watch_once_missing_subscription_is_one_line(tmp_path, gcs_bucket, gcs_notifications):
    config = _config(tmp_path, gcs_bucket, gcs_notifications)
    text = config.read_text().replace(
        gcs_notifications.subscription, "projects/test-project/subscriptions/gone"
    )
    config.write_text(text, encoding="utf-8")
    proc = run_cli(config, "watch", "acme", "--once")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: projects/test-project/subscriptions/gone: Pull NOT_FOUND"


# -- the Dagster watch sensor ----------------------------------------------------------------------


def test_sensor_tick_drains_gcs_notifications_and_the_run_applies_them(
    tmp_path, gcs_bucket, gcs_notifications
):
    config = _config(tmp_path, gcs_bucket, gcs_notifications)
    defs = build_definitions(config)
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    keys = ["data/raw/a b.png", "data/raw/ü 日本+.png"]
    for key in keys:
        gcs_bucket.put(key, image_bytes(4, 4), PNG)
        gcs_notifications.notify(gcs_bucket, key)
    sensor = defs.resolve_sensor_def("watch_sensor_acme")
    with DagsterInstance.ephemeral() as instance:
        with build_sensor_context(
            instance=instance, resources={"platform": defs.resources["platform"]}
        ) as ctx:
            tick = sensor(ctx)
        (request,) = tick.run_requests
        assert request.partition_key.startswith("ev-")
        assert ib.status_counts(catalog, "acme", "lake") == {"pending": 2}
        assert gcs_notifications.remaining() == 0  # acknowledged after the inbox commit
        instance.add_dynamic_partitions("acme_batches", [request.partition_key])
        run = defs.resolve_job_def("watch_job_acme").execute_in_process(
            run_config=request.run_config,
            partition_key=request.partition_key,
            instance=instance,
            tags=request.tags,
        )
        assert run.success
        assert sorted(f.key for f in catalog.iter_files("lake")) == sorted(keys)
        assert ib.status_counts(catalog, "acme", "lake") == {"done": 2}
    catalog.dispose()
