"""Config fields every integration shares, whatever its provider."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from orchestration_pkg.core.policy import Quotas, Requirements
from orchestration_pkg.core.retry import RetryPolicy


class StrictModel(BaseModel):
    """A config model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ManifestWatch(StrictModel):
    """Where the manifest sensor looks for new manifests, and what it registers them into."""

    prefix: str = "manifests/"
    folder: str | None = Field(default=None, description="target folder; default: file stem")
    ignore_errors: bool = True
    max_keys_per_tick: int = Field(default=5000, ge=1)


OnDelete = Literal["keep", "mark", "remove"]


class Notifications(StrictModel):
    """Where bucket event notifications arrive (``orchestration-pkg watch``).

    S3: ``queue_url``, an SQS queue the bucket's event notifications (or EventBridge, or SNS)
    deliver to, read with the integration's AWS credentials. Azure: ``queue_name``, a Storage
    Queue Event Grid delivers to, on the integration's account (``account_url`` of its queue
    service; default: the blob URL with ``.blob.`` → ``.queue.``) with the integration's auth,
    or on any account with its own ``connection_string``.
    GCS: ``subscription`` (``projects/P/subscriptions/S``), a Pub/Sub pull subscription of the
    topic the bucket's notifications publish to, read with the integration's credentials
    (``emulator_host`` or ``$PUBSUB_EMULATOR_HOST``: an emulator, no credentials);
    ``visibility_timeout`` is then the ack deadline set on each received message (≤ 600).
    """

    queue_url: str | None = Field(default=None, description="S3: the SQS queue URL")
    queue_name: str | None = Field(default=None, description="Azure: the storage queue")
    account_url: str | None = Field(default=None, description="Azure: queue service URL")
    connection_string: SecretStr | None = Field(
        default=None,
        description="Azure: the queue account's own connection string (another account or "
        "other credentials than the blobs'); e.g. ${EVENTS_QUEUE_CONNECTION}",
    )
    subscription: str | None = Field(
        default=None,
        pattern=r"^projects/[^/]+/subscriptions/[^/]+$",
        description="GCS: the Pub/Sub subscription, projects/P/subscriptions/S",
    )
    emulator_host: str | None = Field(
        default=None, pattern=r"^[^/\s]+:\d+$", description="GCS: Pub/Sub emulator HOST:PORT"
    )
    max_messages: int = Field(default=100, ge=1, le=10_000, description="per drain (cap)")
    wait_seconds: int = Field(default=0, ge=0, le=20, description="long polling of a receive")
    visibility_timeout: int | None = Field(
        default=None, ge=1, le=43_200, description="seconds a received message stays hidden"
    )
    poison: Literal["delete", "leave"] = Field(
        default="delete", description="unreadable messages: delete | leave (dead-letter policy)"
    )

    @model_validator(mode="after")
    def _one_queue(self) -> Notifications:
        if sum(bool(q) for q in (self.queue_url, self.queue_name, self.subscription)) != 1:
            raise ValueError(
                "set exactly one of queue_url (S3/SQS), queue_name (Azure) or subscription "
                "(GCS/Pub/Sub)"
            )
        if self.connection_string is not None and not self.queue_name:
            raise ValueError("connection_string is for an Azure queue (queue_name)")
        if self.subscription and (self.visibility_timeout or 0) > 600:
            raise ValueError("visibility_timeout (the Pub/Sub ack deadline) must be ≤ 600")
        return self


class PrefixWatch(StrictModel):
    """What ``orchestration-pkg sync`` (and its polling) mirrors into a folder.

    ``prefix`` is relative to the integration's prefix, like ``manifests.prefix``. With
    ``notifications``, ``orchestration-pkg watch`` reads bucket events instead of listing.
    """

    folder: str | None = Field(default=None, description="target folder of `sync`")
    prefix: str = ""
    on_delete: OnDelete = Field(
        default="mark", description="objects gone from the bucket: keep | mark | remove"
    )
    notifications: Notifications | None = None
    max_keys_per_tick: int = Field(default=5000, ge=1, description="Dagster watch sensor cap")
    batch_size: int = Field(
        default=1000, ge=1, le=1000, description="Dagster watch: files per batch run (≤ 1000)"
    )
    ignore_errors: bool = Field(default=True, description="Dagster watch runs: register the rest")
    max_batch_attempts: int = Field(
        default=3, ge=1, le=100, description="runs (or watch evaluations) a failed batch gets"
    )


class RetryConfig(StrictModel):
    """The one retry policy of storage requests (transient errors only), see core/retry.py."""

    max_attempts: int = Field(default=4, ge=1, le=20, description="tries per request")
    backoff_seconds: float = Field(default=0.25, ge=0, le=60)
    max_backoff_seconds: float = Field(default=8.0, ge=0, le=600)
    object_deadline_seconds: float = Field(
        default=120.0, gt=0, le=86400, description="no new attempt for one file after this"
    )
    read_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="a stalled answer fails (transient) after this"
    )

    def policy(self) -> RetryPolicy:
        return RetryPolicy(**self.model_dump())


class IntegrationBase(StrictModel):
    """Fields every integration has."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    default: bool = False
    manifests: ManifestWatch | None = None
    watch: PrefixWatch | None = None
    max_pool_connections: int = Field(default=32, ge=1, le=512)
    cors_origins: list[str] = Field(
        default_factory=list, description="web origins for the generated CORS rules"
    )
    requirements: Requirements | None = None
    quotas: Quotas | None = None
    retry: RetryConfig = Field(
        default_factory=RetryConfig, description="overrides the top-level retry: block"
    )

    def location(self) -> str:
        """Where this integration reads, as ``integrations list`` shows it (never a secret)."""
        raise NotImplementedError

    def listing_root(self) -> tuple[str, str] | None:
        """(bucket or container, prefix) that this integration lists; None when it cannot list
        (direct URLs): what sync, notifications and the Dagster watch need."""
        return None

    def auth_summary(self) -> str:
        """How it authenticates, in a word or two (the auth method; never a secret)."""
        auth = getattr(self, "auth", None)
        return str(getattr(auth, "method", "none"))
