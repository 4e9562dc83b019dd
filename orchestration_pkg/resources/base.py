"""What the per-provider Dagster resources share: config ↔ resource, one cached storage.

Each provider's resource (``S3IntegrationResource`` ...) derives from its dagster-aws /
dagster-gcp / dagster-azure resource and from :class:`IntegrationResource`, and says only
how its fields map to the provider's config model and back.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from dagster import ConfigurableResource
from pydantic import PrivateAttr, ValidationError

from orchestration_pkg.core.config import describe_validation_error
from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.providers.registry import provider

if TYPE_CHECKING:
    from typing_extensions import Self


class IntegrationResource(ConfigurableResource):
    """Builds the provider's config from the resource's fields and its storage from that."""

    provider_name: ClassVar[str]
    """The registry name of the provider (``s3``, ``gcs``, ``azure``)."""

    _storage: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    if TYPE_CHECKING:
        integration_name: str

    def config_fields(self) -> dict[str, Any]:
        """Keyword arguments of the provider's config model (``ConfigError`` if inconsistent)."""
        raise NotImplementedError

    @classmethod
    def resource_fields(cls, cfg: Any) -> dict[str, Any]:
        """Keyword arguments of this resource describing ``cfg`` (secrets passed through)."""
        raise NotImplementedError

    def to_config(self) -> Any:
        """The core config this resource describes (``ConfigError`` when inconsistent)."""
        model = provider(self.provider_name).config_model
        try:
            return model(**self.config_fields())
        except ValidationError as exc:
            raise ConfigError(
                f"integration '{self.integration_name}': {describe_validation_error(exc)}"
            ) from None

    def get_storage(self) -> Any:
        """The integration's storage (one per resource instance, built on first use)."""
        if self._storage is None:
            with self._lock:
                if self._storage is None:
                    storage_class = provider(self.provider_name).storage_class()
                    self._storage = storage_class(self.to_config())
        return self._storage

    @classmethod
    def from_config(cls, cfg: Any) -> Self:
        """A resource holding ``cfg`` (secret values are passed through, never printed)."""
        return cls(**cls.resource_fields(cfg))
