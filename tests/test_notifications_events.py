"""Bucket event payloads (S3, EventBridge, SNS, Event Grid, CloudEvents, GCS Pub/Sub) and
their reduction."""

from __future__ import annotations

import base64
import json

import pytest

from orchestration_pkg.core.notifications.events import (
    BucketEvent,
    PoisonMessage,
    parse_azure_message,
    parse_gcs_message,
    parse_s3_body,
    reduce_events,
)


def s3_record(key: str, name: str = "ObjectCreated:Put", seq: str | None = None, **obj):
    body = {"key": key, "size": 5, "eTag": '"abc"', **obj}
    if seq:
        body["sequencer"] = seq
    return {"eventName": name, "s3": {"bucket": {"name": "bk"}, "object": body}}


def test_s3_keys_are_form_decoded_exactly():
    body = json.dumps(
        {"Records": [s3_record("raw/a+b%2Bc+%C3%BC%2F%E6%97%A5.png"), s3_record("raw/%25x")]}
    )
    events = parse_s3_body(body)
    assert [e.key for e in events] == ["raw/a b+c ü/日.png", "raw/%x"]
    assert (events[0].bucket, events[0].size, events[0].etag, events[0].deleted) == (
        "bk",
        5,
        "abc",
        False,
    )
    removed = parse_s3_body(json.dumps({"Records": [s3_record("k", "ObjectRemoved:Delete")]}))
    assert removed[0].deleted and removed[0].size is None


def test_eventbridge_sns_and_test_events():
    bridge = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "time": "2026-12-02T10:00:00Z",
        "detail": {
            "bucket": {"name": "bk"},
            "object": {"key": "raw/a+b.png", "size": 3, "etag": "e1", "sequencer": "0A"},
        },
    }
    (event,) = parse_s3_body(json.dumps(bridge))
    assert (event.key, event.size, event.etag, event.sequencer) == ("raw/a+b.png", 3, "e1", "0A")
    wrapped = {"Type": "Notification", "Message": json.dumps(bridge)}
    assert parse_s3_body(json.dumps(wrapped)) == [event]
    sns_s3 = {"Type": "Notification", "Message": json.dumps({"Records": [s3_record("x+y")]})}
    assert parse_s3_body(json.dumps(sns_s3))[0].key == "x y"
    gone = {**bridge, "detail-type": "Object Deleted"}
    assert parse_s3_body(json.dumps(gone))[0].deleted
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bk"}
    assert parse_s3_body(json.dumps(test_event)) == []
    # other event types carry nothing to register (not poison)
    assert parse_s3_body(json.dumps({"Records": [s3_record("k", "ObjectTagging:Put")]})) == []
    assert parse_s3_body(json.dumps({**bridge, "detail-type": "Object Restore Completed"})) == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"hello": 1}),
        json.dumps({"Records": "x"}),
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        json.dumps({"Type": "Notification", "Message": "{broken"}),
        json.dumps({"source": "aws.s3", "detail": {}}),
    ],
)
def test_unknown_s3_shapes_are_poison(body):
    with pytest.raises(PoisonMessage) as info:
        parse_s3_body(body)
    assert "https://" not in str(info.value)


def test_last_event_per_key_by_sequencer_then_arrival():
    events = [
        BucketEvent("bk", "a", deleted=False, sequencer="FF", arrival=0),
        BucketEvent("bk", "a", deleted=True, sequencer="0100", arrival=1),  # 0x100 > 0xFF
        BucketEvent("bk", "b", deleted=True, sequencer="0200", arrival=2),
        BucketEvent("bk", "b", deleted=False, sequencer="1FF", arrival=3),  # delete is later
        BucketEvent("bk", "c", deleted=True, arrival=4),
        BucketEvent("bk", "c", deleted=False, size=9, arrival=5),  # no sequencer: arrival
    ]
    last = reduce_events(events)
    assert {k: (e.deleted, e.arrival) for k, e in last.items()} == {
        "a": (True, 1),
        "b": (True, 2),
        "c": (False, 5),
    }


def grid(name: str, kind: str = "BlobCreated", container: str = "ct", **data) -> dict:
    url = f"https://acct.blob.core.windows.net/{container}/{name}"
    return {
        "eventType": f"Microsoft.Storage.{kind}",
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventTime": "2026-12-02T10:00:00.1234567Z",
        "data": {"url": url, "contentLength": 7, "eTag": "0x8D1", "sequencer": "01", **data},
    }


def test_event_grid_plain_base64_arrays_and_cloudevents():
    plain = json.dumps(grid("raw/a b+c ü.png"))
    (event,) = parse_azure_message(plain)
    assert (event.bucket, event.key, event.size, event.etag) == (
        "ct",
        "raw/a b+c ü.png",
        7,
        "0x8D1",
    )
    encoded = base64.b64encode(plain.encode()).decode()
    assert parse_azure_message(encoded) == [event]
    many = json.dumps([grid("x"), grid("y", "BlobDeleted")])
    assert [(e.key, e.deleted) for e in parse_azure_message(many)] == [("x", False), ("y", True)]
    cloud = grid("raw/c.png")
    cloud["type"] = cloud.pop("eventType")
    cloud["time"] = cloud.pop("eventTime")
    assert parse_azure_message(json.dumps(cloud))[0].key == "raw/c.png"
    # without a subject: the URL's path, percent-decoded
    no_subject = grid("ignored")
    del no_subject["subject"]
    no_subject["data"]["url"] = "https://acct.blob.core.windows.net/ct/raw/a%20b%2Bc%C3%BC.png"
    assert parse_azure_message(json.dumps(no_subject))[0].key == "raw/a b+cü.png"
    assert parse_azure_message(json.dumps(grid("x", "BlobTierChanged"))) == []
    emulator = grid("ignored")
    del emulator["subject"]
    emulator["data"]["url"] = "http://127.0.0.1:10000/devstoreaccount1/ct/d%20e.png"
    assert parse_azure_message(json.dumps(emulator))[0].key == "d e.png"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@@@",
        base64.b64encode(b"not json").decode(),
        "[]",
        json.dumps({**grid("x"), "eventType": "Contoso.Other"}),
    ],
)
def test_unknown_azure_shapes_are_poison(text):
    with pytest.raises(PoisonMessage):
        parse_azure_message(text)


def test_other_and_mismatched_notifications_are_refused():
    from types import SimpleNamespace

    from orchestration_pkg.core.errors import ConfigError
    from orchestration_pkg.core.notifications.queues import make_queue
    from orchestration_pkg.core.providers.base import Notifications

    sqs = Notifications(queue_url="http://127.0.0.1:1/0/q")
    with pytest.raises(ConfigError, match="poll"):
        make_queue(SimpleNamespace(name="d", provider="direct"), None, sqs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="queue_name"):
        make_queue(SimpleNamespace(name="a", provider="azure"), None, sqs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"subscription \(Pub/Sub\)"):
        make_queue(SimpleNamespace(name="g", provider="gcs"), None, sqs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        Notifications(queue_url="u", queue_name="q")
    with pytest.raises(ValueError, match="exactly one"):
        Notifications(queue_name="q", subscription="projects/p/subscriptions/s")
    with pytest.raises(ValueError, match="exactly one"):
        Notifications()
    with pytest.raises(ValueError, match="subscription"):
        Notifications(subscription="my-subscription")  # not projects/P/subscriptions/S
    with pytest.raises(ValueError, match="ack deadline"):
        Notifications(subscription="projects/p/subscriptions/s", visibility_timeout=601)
    with pytest.raises(ValueError, match="emulator_host"):
        Notifications(subscription="projects/p/subscriptions/s", emulator_host="http://x/")


# -- GCS (Pub/Sub) --------------------------------------------------------------------------------


def gcs(event: str, key: str, generation: str = "1700000000000001", **attrs: str):
    """(attributes, data) of a GCS JSON_API_V1 notification."""
    resource = {"name": key, "bucket": "bk", "generation": generation, "size": "12"}
    resource |= {"etag": "CJ+Tz8L/5+8CEAE=", "md5Hash": "XrY7u+Ae7tCTyyK7j1rNww=="}
    attributes = {
        "eventType": event,
        "payloadFormat": "JSON_API_V1",
        "bucketId": "bk",
        "objectId": key,
        "objectGeneration": generation,
        "eventTime": "2026-12-02T10:00:00.123456Z",
        **attrs,
    }
    return attributes, json.dumps(resource)


def test_gcs_notifications_created_removed_and_ignored():
    (created,) = parse_gcs_message(*gcs("OBJECT_FINALIZE", "raw/a+b ü.png"))
    assert (created.bucket, created.key, created.deleted) == ("bk", "raw/a+b ü.png", False)
    assert (created.size, created.etag) == (12, "CJ+Tz8L/5+8CEAE=")
    assert created.sequencer == f"{1700000000000001:016X}0"
    (deleted,) = parse_gcs_message(*gcs("OBJECT_DELETE", "raw/a+b ü.png"))
    assert deleted.deleted and deleted.size is None and deleted.etag is None
    (archived,) = parse_gcs_message(*gcs("OBJECT_ARCHIVE", "k"))  # versioned: no live object
    assert archived.deleted
    # the old generation of an overwrite, and metadata changes: nothing to do
    assert parse_gcs_message(*gcs("OBJECT_DELETE", "k", overwrittenByGeneration="9")) == []
    assert parse_gcs_message(*gcs("OBJECT_ARCHIVE", "k", overwrittenByGeneration="9")) == []
    assert parse_gcs_message(*gcs("OBJECT_METADATA_UPDATE", "k")) == []
    # payloadFormat NONE: attributes only
    attributes, _ = gcs("OBJECT_FINALIZE", "raw/n.bin")
    (bare,) = parse_gcs_message({**attributes, "payloadFormat": "NONE"}, b"")
    assert (bare.key, bare.size, bare.etag) == ("raw/n.bin", None, None)
    assert bare.sequencer == created.sequencer


def test_gcs_sequence_orders_generations_then_delete_after_finalize():
    def seq(event: str, generation: str) -> str:
        return parse_gcs_message(*gcs(event, "k", generation))[0].sequence

    # a delete of generation G is after its finalize, and before the finalize of G+1; string
    # order is numeric order (fixed width), also across a change in the number of digits
    order = [
        seq("OBJECT_FINALIZE", "999999999999999"),
        seq("OBJECT_DELETE", "999999999999999"),
        seq("OBJECT_FINALIZE", "1000000000000000"),
        seq("OBJECT_DELETE", "1000000000000000"),
        seq("OBJECT_FINALIZE", "1700000000000001"),
    ]
    assert order == sorted(order) and len(set(order)) == 5
    last = reduce_events(
        parse_gcs_message(*gcs(e, "k", g), arrival=i)[0]
        for i, (e, g) in enumerate([("OBJECT_DELETE", "5"), ("OBJECT_FINALIZE", "5")])
    )
    assert last["k"].deleted  # the delete of generation 5 wins, whatever the arrival order


@pytest.mark.parametrize(
    ("attributes", "data"),
    [
        ({}, b"{}"),  # not a GCS notification
        ({"eventType": "Contoso.Other", "bucketId": "b", "objectId": "k"}, b""),
        ({"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1"}, b"not json"),
        ({"eventType": "OBJECT_FINALIZE", "bucketId": "b", "objectId": "k"}, b"[1]"),
        ({"eventType": "OBJECT_FINALIZE"}, b"{}"),  # no bucket / object
    ],
)
def test_unknown_gcs_shapes_are_poison(attributes, data):
    with pytest.raises(PoisonMessage):
        parse_gcs_message(attributes, data)
