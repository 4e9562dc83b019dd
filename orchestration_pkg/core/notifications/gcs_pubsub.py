"""GCS → Pub/Sub: synchronous pull from the subscription of a bucket's notification topic,
acknowledge after the inbox commit.

The subscriber uses the integration's credentials (service-account key or ADC, re-scoped to
Pub/Sub; it needs ``roles/pubsub.subscriber`` on the subscription). With ``emulator_host``
(or ``$PUBSUB_EMULATOR_HOST``) it talks plain gRPC to an emulator without credentials. The
gRPC channel lives for one collect (``close``), and is opened again on the next receive.

``wait_seconds`` 0 pulls with ``return_immediately`` (a drain never blocks on an empty
subscription); more waits that long for the first message. ``visibility_timeout`` sets
the ack deadline of each received message (the subscription's own deadline otherwise): keep
it, or the subscription's ``--ack-deadline``, comfortably above one collect.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.notifications.events import BucketEvent, parse_gcs_message
from orchestration_pkg.core.notifications.queues import QueueMessage
from orchestration_pkg.core.providers.base import Notifications

log = logging.getLogger(__name__)
# return_immediately is deprecated but is the only non-blocking synchronous pull (see above)
warnings.filterwarnings(
    "ignore", message="The return_immediately flag is deprecated", category=DeprecationWarning
)

EMULATOR_ENV = "PUBSUB_EMULATOR_HOST"
PUBSUB_SCOPE = "https://www.googleapis.com/auth/pubsub"
PULL_MAX_BATCH = 1000  # Pub/Sub returns at most 1000 messages per pull
ACK_BATCH = 500  # ack ids per acknowledge / modifyAckDeadline request (512 KB request cap)
CALL_TIMEOUT = 30.0  # seconds for one pull / acknowledge call


class PubSubQueue:
    """One pull subscription: ``receive`` up to n messages, ``delete`` = acknowledge."""

    kind = "pubsub"

    def __init__(
        self,
        subscription: str,
        settings: Notifications,
        *,
        credentials: Any = None,
        emulator_host: str | None = None,
    ) -> None:
        self.subscription = subscription
        self.settings = settings
        self.credentials = credentials
        self.emulator_host = emulator_host
        self._client: Any = None

    @classmethod
    def for_storage(cls, storage: Any, settings: Notifications) -> PubSubQueue:
        """The subscription of ``settings`` with ``storage``'s (a GCSStorage) credentials."""
        host = settings.emulator_host or os.environ.get(EMULATOR_ENV) or None
        if host:
            return cls(settings.subscription or "", settings, emulator_host=host)
        from google.auth.credentials import Scoped

        credentials = storage.credentials
        if isinstance(credentials, Scoped):  # the storage's are read-only storage scoped
            credentials = credentials.with_scopes([PUBSUB_SCOPE])
        return cls(settings.subscription or "", settings, credentials=credentials)

    @property
    def name(self) -> str:
        return self.subscription

    @property
    def client(self) -> Any:
        """The GAPIC subscriber (built on first use after ``close``)."""
        if self._client is None:
            from google.pubsub_v1 import SubscriberClient

            if self.emulator_host:
                import grpc
                from google.pubsub_v1.services.subscriber.transports import (
                    SubscriberGrpcTransport,
                )

                channel = grpc.insecure_channel(self.emulator_host)
                self._client = SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
            else:
                self._client = SubscriberClient(credentials=self.credentials)
        return self._client

    def close(self) -> None:
        """Close the gRPC channel (a later call opens a new one)."""
        client, self._client = self._client, None
        if client is not None:
            client.transport.close()

    def receive(self, limit: int) -> list[QueueMessage]:
        from google.api_core import exceptions

        request = {
            "subscription": self.subscription,
            "max_messages": max(1, min(PULL_MAX_BATCH, limit)),
        }
        wait = self.settings.wait_seconds
        if not wait:
            request["return_immediately"] = True  # deprecated, still the one non-blocking pull
        try:
            response = self.client.pull(request=request, timeout=wait or CALL_TIMEOUT)
        except exceptions.DeadlineExceeded:
            return []  # nothing arrived while waiting
        except exceptions.GoogleAPICallError as exc:
            raise self._error("Pull", exc) from None
        received = list(response.received_messages)
        deadline = self.settings.visibility_timeout
        if deadline is not None and received:
            self._modify_deadline([m.ack_id for m in received], deadline)
        return [
            QueueMessage(
                id=m.message.message_id,
                handle=m.ack_id,
                body=m.message.data.decode("utf-8", "replace"),
                attributes=dict(m.message.attributes),
            )
            for m in received
        ]

    def parse(self, message: QueueMessage, arrival: int) -> list[BucketEvent]:
        return parse_gcs_message(message.attributes, message.body, arrival)

    def delete(self, messages: list[QueueMessage]) -> int:
        """Acknowledge ``messages``; a part that cannot be acknowledged is logged and comes
        back after its ack deadline (harmless: storing its events again is a no-op)."""
        from google.api_core import exceptions

        acked = 0
        for start in range(0, len(messages), ACK_BATCH):
            part = messages[start : start + ACK_BATCH]
            try:
                self.client.acknowledge(
                    subscription=self.subscription,
                    ack_ids=[m.handle for m in part],
                    timeout=CALL_TIMEOUT,
                )
                acked += len(part)
            except exceptions.GoogleAPICallError as exc:
                log.warning(
                    "could not acknowledge %d message(s) on %s: %s (they will be delivered again)",
                    len(part),
                    self.name,
                    type(exc).__name__,
                )
        return acked

    def _modify_deadline(self, ack_ids: list[str], seconds: int) -> None:
        from google.api_core import exceptions

        for start in range(0, len(ack_ids), ACK_BATCH):
            try:
                self.client.modify_ack_deadline(
                    subscription=self.subscription,
                    ack_ids=ack_ids[start : start + ACK_BATCH],
                    ack_deadline_seconds=seconds,
                    timeout=CALL_TIMEOUT,
                )
            except exceptions.GoogleAPICallError as exc:  # the subscription's deadline holds
                log.warning(
                    "could not set the ack deadline on %s: %s", self.name, type(exc).__name__
                )

    def _error(self, operation: str, exc: Any) -> StorageError:
        """One line naming the subscription, the operation and the gRPC status only."""
        code = getattr(exc, "grpc_status_code", None)
        status = code.name if code is not None else type(exc).__name__
        transient = status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED")
        return StorageError(
            f"{self.subscription}: {operation} {status}", code=status, transient=transient
        )


__all__ = ["EMULATOR_ENV", "PubSubQueue"]
