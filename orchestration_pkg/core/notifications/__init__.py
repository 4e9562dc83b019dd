"""Bucket event notifications: the event path of ``watch`` and of the Dagster watch sensor
(S3 → SQS, Azure Event Grid → Storage Queue, GCS → Pub/Sub). See :mod:`.consumer` for the
drain into the catalog's inbox and its at-least-once guarantee, :mod:`.queues` for the queue
protocol and factory, :mod:`.watch_result` for what an evaluation did, :mod:`.batches` for
applying the inbox."""

from orchestration_pkg.core.notifications.consumer import NotificationConsumer, watch_integration
from orchestration_pkg.core.notifications.events import (
    BucketEvent,
    PoisonMessage,
    parse_azure_message,
    parse_gcs_message,
    parse_s3_body,
    reduce_events,
)
from orchestration_pkg.core.notifications.queues import QueueMessage
from orchestration_pkg.core.notifications.watch_result import WatchResult

__all__ = [
    "BucketEvent",
    "NotificationConsumer",
    "PoisonMessage",
    "QueueMessage",
    "WatchResult",
    "parse_azure_message",
    "parse_gcs_message",
    "parse_s3_body",
    "reduce_events",
    "watch_integration",
]
