"""Azure Event Grid → Storage Queue: receive and delete messages of one storage queue.

The queue lives on the integration's storage account by default (its blob URL with
``.blob.`` → ``.queue.``; ``account_url`` for another, e.g. an emulator's queue port) and is
read with the integration's credential (account key, connection string, SAS or service
principal: whatever its blob client uses).
"""

from __future__ import annotations

import logging
from typing import Any

from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.notifications.events import BucketEvent, parse_azure_message
from orchestration_pkg.core.notifications.queues import QueueMessage
from orchestration_pkg.core.providers.base import Notifications
from orchestration_pkg.core.urls import redact_url

log = logging.getLogger(__name__)

AZURE_MAX_BATCH = 32  # a storage queue returns at most 32 messages per request


def queue_account_url(blob_account_url: str) -> str:
    """The queue service URL next to a blob service URL (cloud accounts)."""
    return blob_account_url.replace(".blob.", ".queue.", 1)


class AzureQueue:
    """One storage queue: ``receive`` up to n messages, ``delete`` each by its pop receipt."""

    kind = "azure-queue"

    def __init__(self, client: Any, settings: Notifications) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    def for_storage(cls, storage: Any, settings: Notifications) -> AzureQueue:
        """The queue ``settings.queue_name`` with ``storage``'s (an AzureStorage) credential, or
        with ``settings.connection_string`` when the queue has its own."""
        from azure.storage.queue import QueueClient

        name = settings.queue_name or ""
        if settings.connection_string is not None:  # the queue's own account / credentials
            text = settings.connection_string.get_secret_value()
            try:
                client = QueueClient.from_connection_string(text, name)
            except ValueError:  # the SDK's message may quote the string: say only what it is
                raise ConfigError(
                    "watch.notifications.connection_string is not a valid Azure storage "
                    "connection string"
                ) from None
            return cls(client, settings)
        account_url = settings.account_url or queue_account_url(storage.account_url)
        client = QueueClient(account_url, name, credential=storage.credential)
        return cls(client, settings)

    @property
    def name(self) -> str:
        return f"{redact_url(self.client.url)}"

    def receive(self, limit: int) -> list[QueueMessage]:
        kwargs: dict[str, Any] = {"max_messages": max(1, min(AZURE_MAX_BATCH, limit))}
        kwargs["messages_per_page"] = kwargs["max_messages"]
        if self.settings.visibility_timeout is not None:
            kwargs["visibility_timeout"] = self.settings.visibility_timeout
        return [
            QueueMessage(id=m.id, handle=m.pop_receipt, body=m.content or "")
            for m in self.client.receive_messages(**kwargs)
        ]

    def parse(self, message: QueueMessage, arrival: int) -> list[BucketEvent]:
        return parse_azure_message(message.body, arrival)

    def delete(self, messages: list[QueueMessage]) -> int:
        from azure.core.exceptions import AzureError

        deleted = 0
        for message in messages:
            try:
                self.client.delete_message(message.id, message.handle)
                deleted += 1
            except AzureError as exc:
                log.warning(
                    "could not delete message %s from %s: %s (it will be delivered again)",
                    message.id,
                    self.name,
                    type(exc).__name__,
                )
        return deleted
