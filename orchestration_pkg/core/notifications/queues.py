"""The queues of bucket events: a received message, the protocol each provider's queue meets
(:class:`~.s3_sqs.SqsQueue`, :class:`~.azure_queue.AzureQueue`, :class:`~.gcs_pubsub.PubSubQueue`)
and the factory that picks one for an integration's ``watch.notifications``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from orchestration_pkg.core.config import AnyIntegrationConfig
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.notifications.events import BucketEvent
from orchestration_pkg.core.providers.base import Notifications
from orchestration_pkg.core.storage import Storage


@dataclass(frozen=True)
class QueueMessage:
    """A received message: its id, the handle that deletes it, its text (and attributes)."""

    id: str
    handle: str
    body: str = field(repr=False)  # may carry signed URLs: never shown
    attributes: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


class EventQueue(Protocol):
    """A queue of bucket events (:class:`~.s3_sqs.SqsQueue`, :class:`~.azure_queue.AzureQueue`,
    :class:`~.gcs_pubsub.PubSubQueue`; one with a ``close()`` is closed after each collect)."""

    kind: str

    @property
    def name(self) -> str: ...

    def receive(self, limit: int) -> list[QueueMessage]: ...

    def parse(self, message: QueueMessage, arrival: int) -> list[BucketEvent]: ...

    def delete(self, messages: list[QueueMessage]) -> int: ...


def make_queue(cfg: AnyIntegrationConfig, storage: Storage, settings: Notifications) -> EventQueue:
    """The event queue of an integration's ``watch.notifications``."""
    provider = cfg.provider
    if provider == "s3" and settings.queue_url:
        from orchestration_pkg.core.notifications.s3_sqs import SqsQueue

        return SqsQueue.for_storage(storage, settings)
    if provider == "azure" and settings.queue_name:
        from orchestration_pkg.core.notifications.azure_queue import AzureQueue

        return AzureQueue.for_storage(storage, settings)
    if provider == "gcs" and settings.subscription:
        from orchestration_pkg.core.notifications.gcs_pubsub import PubSubQueue

        return PubSubQueue.for_storage(storage, settings)
    want = {
        "s3": "queue_url (SQS)",
        "azure": "queue_name (storage queue)",
        "gcs": "subscription (Pub/Sub)",
    }.get(str(provider))
    if want is None:
        raise ConfigError(
            f"integration '{cfg.name}' ({provider}): bucket notifications are S3 (SQS), Azure "
            "(Event Grid → storage queue) and GCS (Pub/Sub) only; remove watch.notifications "
            "to poll"
        )
    raise ConfigError(f"integration '{cfg.name}': watch.notifications needs {want}")


__all__ = ["EventQueue", "QueueMessage", "make_queue"]
