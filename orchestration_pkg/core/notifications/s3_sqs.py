"""S3 → SQS: receive and delete messages of the queue a bucket's notifications go to.

The SQS client is made from the integration's boto3 session (same credentials, assumed role
included); its endpoint is the queue URL's own host, so an emulator's queue URL just works.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from orchestration_pkg.core.notifications.events import BucketEvent, parse_s3_body
from orchestration_pkg.core.notifications.queues import QueueMessage
from orchestration_pkg.core.providers.base import Notifications
from orchestration_pkg.core.urls import redact_url

log = logging.getLogger(__name__)

SQS_MAX_BATCH = 10  # ReceiveMessage and DeleteMessageBatch take at most ten
_AWS_HOST = re.compile(r"^sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


def sqs_region(queue_url: str, default: str) -> str:
    """The region of an AWS queue URL (``sqs.REGION.amazonaws.com``), else ``default``."""
    match = _AWS_HOST.match(urlsplit(queue_url).hostname or "")
    return match.group(1) if match else default


class SqsQueue:
    """One SQS queue: ``receive`` up to n messages (≤10 per call), ``delete`` by batch."""

    kind = "sqs"

    def __init__(self, queue_url: str, settings: Notifications, client: Any) -> None:
        self.queue_url = queue_url
        self.settings = settings
        self.client = client

    @classmethod
    def for_storage(cls, storage: Any, settings: Notifications) -> SqsQueue:
        """The queue of ``settings.queue_url`` with ``storage``'s (an S3Storage) credentials."""
        url = settings.queue_url or ""
        parts = urlsplit(url)
        client = storage.session.client(
            "sqs",
            region_name=sqs_region(url, storage.region),
            endpoint_url=f"{parts.scheme}://{parts.netloc}",
        )
        return cls(url, settings, client)

    @property
    def name(self) -> str:
        return redact_url(self.queue_url)

    def receive(self, limit: int) -> list[QueueMessage]:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max(1, min(SQS_MAX_BATCH, limit)),
            "WaitTimeSeconds": self.settings.wait_seconds,
        }
        if self.settings.visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = self.settings.visibility_timeout
        response = self.client.receive_message(**kwargs)
        return [
            QueueMessage(id=m["MessageId"], handle=m["ReceiptHandle"], body=m.get("Body", ""))
            for m in response.get("Messages", [])
        ]

    def parse(self, message: QueueMessage, arrival: int) -> list[BucketEvent]:
        return parse_s3_body(message.body, arrival)

    def delete(self, messages: list[QueueMessage]) -> int:
        """Delete ``messages``; one that cannot be deleted is logged and comes back (harmless:
        processing is idempotent)."""
        deleted = 0
        for start in range(0, len(messages), SQS_MAX_BATCH):
            part = messages[start : start + SQS_MAX_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": m.handle} for i, m in enumerate(part)]
            response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            deleted += len(response.get("Successful", []))
            for failed in response.get("Failed", []):
                log.warning(
                    "could not delete message %s from %s: %s (it will be delivered again)",
                    part[int(failed["Id"])].id,
                    self.name,
                    failed.get("Code"),
                )
        return deleted
