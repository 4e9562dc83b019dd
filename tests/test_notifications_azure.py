"""The Azure event path: Event Grid-shaped messages in an Azurite storage queue, blobs in
Azurite, real catalogs. Event Grid writes base64 JSON; plain JSON is read too."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.queue import QueueClient

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.catalog import inbox as ib
from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.notifications import NotificationConsumer
from orchestration_pkg.core.notifications.azure_queue import AzureQueue, queue_account_url
from orchestration_pkg.core.providers.azure.config import AzureIntegrationConfig, AzureSasAuth
from orchestration_pkg.core.providers.base import Notifications
from orchestration_pkg.core.registration import build_storage
from tests.fixtures.azurite import ACCOUNT, ACCOUNT_KEY
from tests.media import image_bytes
from tests.notification_helpers import PNG, counts, drain, files


@pytest.fixture
def queue_client(azurite_queue_endpoint):
    client = QueueClient(
        azurite_queue_endpoint,
        f"ev-{uuid.uuid4().hex[:8]}",
        credential=AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY),
    )
    client.create_queue()
    yield client
    client.delete_queue()


@pytest.fixture
def watched(azure_container, azure_config_factory, queue_client, azurite_queue_endpoint):
    def make(catalog: Catalog, on_delete: str = "mark", **settings: Any) -> NotificationConsumer:
        notifications = {
            "queue_name": queue_client.queue_name,
            "account_url": azurite_queue_endpoint,
            **settings,
        }
        watch = {"folder": "lake", "on_delete": on_delete, "notifications": notifications}
        cfg = azure_config_factory(prefix="raw/", watch=watch)
        assert cfg.watch is not None and cfg.watch.notifications is not None
        storage = build_storage(cfg)
        return NotificationConsumer(
            catalog,
            storage,
            AzureQueue.for_storage(storage, cfg.watch.notifications),
            folder="lake",
            bucket=azure_container.name,
            key_prefix="raw/",
            on_delete=cfg.watch.on_delete,
            settings=cfg.watch.notifications,
        )

    return make, azure_container, queue_client


_SEQ = iter(range(1, 1_000_000))


def event(container: Any, name: str, kind: str = "BlobCreated", encode: bool = True) -> str:
    """An Event Grid BlobCreated/BlobDeleted event of ``name`` as Event Grid queues it."""
    data: dict[str, Any] = {
        "url": f"{container.account_url}/{container.name}/{name}",
        "sequencer": f"{next(_SEQ):032X}",
    }
    if kind == "BlobCreated":
        props = container.client.get_blob_client(name).get_blob_properties()
        data.update(contentLength=props.size, eTag=props.etag)
    doc = {
        "id": uuid.uuid4().hex,
        "eventType": f"Microsoft.Storage.{kind}",
        "subject": f"/blobServices/default/containers/{container.name}/blobs/{name}",
        "eventTime": "2026-12-02T10:00:00Z",
        "data": data,
    }
    text = json.dumps(doc)
    return base64.b64encode(text.encode()).decode() if encode else text


def pending(queue: QueueClient) -> int:
    return queue.get_queue_properties().approximate_message_count


NAMES = {"raw/a b.png": (5, 4), "raw/x+y.png": (6, 5), "raw/ü/日本 %.png": (7, 6)}


def test_event_grid_messages_register_update_and_remove(catalog, watched):
    make, container, queue = watched
    consumer = make(catalog)
    for i, (name, (w, h)) in enumerate(NAMES.items()):
        container.put(name, image_bytes(w, h), PNG)
        queue.send_message(event(container, name, encode=i % 2 == 0))  # base64 and plain
    container.put("elsewhere/z.png", image_bytes(2, 2), PNG)
    queue.send_message(event(container, "elsewhere/z.png"))
    queue.send_message("@@ not an event ?sig=SECRET")
    first = drain(consumer)
    assert counts(first) == (3, 0, 0, 0, 0)
    assert (first.messages, first.poison, first.ignored) == (5, 1, 1)
    rows = files(catalog)
    assert {k: (r.width, r.height) for k, r in rows.items()} == NAMES
    assert all(r.etag and r.size for r in rows.values())
    assert pending(queue) == 0

    container.put("raw/a b.png", image_bytes(9, 8), PNG)  # overwritten
    queue.send_message(event(container, "raw/a b.png"))
    container.client.delete_blob("raw/x+y.png")
    queue.send_message(event(container, "raw/x+y.png", "BlobDeleted"))
    # deleted and re-created: the later sequencer wins, whatever the arrival order
    container.client.delete_blob("raw/ü/日本 %.png")
    gone = event(container, "raw/ü/日本 %.png", "BlobDeleted")
    container.put("raw/ü/日本 %.png", image_bytes(2, 2), PNG)
    queue.send_message(event(container, "raw/ü/日本 %.png"))
    queue.send_message(gone)
    second = drain(consumer)
    assert counts(second) == (0, 2, 1, 0, 0), second
    after = files(catalog, include_removed=True)
    assert (after["raw/a b.png"].width, after["raw/a b.png"].id) == (9, rows["raw/a b.png"].id)
    assert after["raw/x+y.png"].removed_at is not None
    assert after["raw/ü/日本 %.png"].removed_at is None and after["raw/ü/日本 %.png"].width == 2
    assert pending(queue) == 0


def test_event_array_and_crash_before_delete(catalog, watched):
    make, container, queue = watched
    consumer = make(catalog, visibility_timeout=1)
    for name in ("raw/a.png", "raw/b.png"):
        container.put(name, image_bytes(3, 3), PNG)
    docs = [json.loads(base64.b64decode(event(container, n))) for n in ("raw/a.png", "raw/b.png")]
    queue.send_message(json.dumps(docs))
    real_delete = consumer.queue.delete
    calls: list[int] = []

    def crash_once(messages):
        calls.append(len(messages))
        if len(calls) == 1:
            raise RuntimeError("killed between commit and delete")
        return real_delete(messages)

    consumer.queue.delete = crash_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        consumer.drain(RegistrationOptions())
    # the events were committed to the inbox before the crash, the message stays queued
    assert ib.status_counts(catalog, "acme", "lake") == {"pending": 2}
    time.sleep(1.5)
    again = drain(consumer)
    assert (again.messages, again.stored) == (1, 0) and counts(again) == (2, 0, 0, 0, 0)
    assert ib.status_counts(catalog, "acme", "lake") == {"done": 2}
    assert set(files(catalog)) == {"raw/a.png", "raw/b.png"}
    assert pending(queue) == 0 and calls == [1, 1]


def test_queue_account_url_of_a_cloud_account():
    assert queue_account_url("https://acct.blob.core.windows.net") == (
        "https://acct.queue.core.windows.net"
    )


def test_a_queue_with_its_own_connection_string(catalog, azure_container, queue_client):
    """The queue on other credentials than the blobs': the integration reads blobs with a
    container SAS (which cannot reach any queue), the queue with its own connection string."""
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"QueueEndpoint={queue_client.url.rsplit('/', 1)[0]};"
    )
    settings = {"queue_name": queue_client.queue_name, "connection_string": conn}
    watch = {"folder": "lake", "notifications": settings}
    cfg = AzureIntegrationConfig(
        name="acme",
        provider="azure",
        account_url=azure_container.account_url,
        container=azure_container.name,
        prefix="raw/",
        auth=AzureSasAuth(method="sas", sas_token=azure_container.container_sas()),
        watch=watch,
    )
    assert cfg.watch is not None and cfg.watch.notifications is not None
    assert ACCOUNT_KEY not in repr(cfg.watch.notifications)  # a SecretStr, never printed
    storage = build_storage(cfg)
    queue = AzureQueue.for_storage(storage, cfg.watch.notifications)
    consumer = NotificationConsumer(
        catalog,
        storage,
        queue,
        folder="lake",
        bucket=azure_container.name,
        key_prefix="raw/",
        on_delete=cfg.watch.on_delete,
        settings=cfg.watch.notifications,
    )
    azure_container.put("raw/q.png", image_bytes(3, 2), PNG)
    queue_client.send_message(event(azure_container, "raw/q.png"))
    result = drain(consumer)
    assert counts(result) == (1, 0, 0, 0, 0) and pending(queue_client) == 0
    assert files(catalog)["raw/q.png"].width == 3
    assert ACCOUNT_KEY not in queue.name


def test_a_bad_queue_connection_string_is_one_config_line(azure_container):
    settings = Notifications(queue_name="q", connection_string="not a connection string")
    with pytest.raises(ConfigError, match="not a valid Azure storage connection string") as info:
        AzureQueue.for_storage(None, settings)
    assert "not a connection string" not in str(info.value)
    with pytest.raises(ValueError, match="connection_string is for an Azure queue"):
        Notifications(queue_url="http://127.0.0.1:1/q", connection_string="x")
