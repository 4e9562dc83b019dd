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
    sdk_resource: ClassVar[type]
    """The dagster-aws / dagster-gcp / dagster-azure resource this one extends."""
    credential_fields: ClassVar[tuple[str, ...]]
    """The provider config's fields that an ``sdk_resource`` supplies (its credentials)."""

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
    def credentials_of(cls, sdk: Any, entry: dict[str, Any]) -> dict[str, Any]:
        """The ``credential_fields`` that ``sdk`` (an ``sdk_resource``, e.g. the resource of
        dagster-aws's ``S3ResourceComponent``) gives the integration config ``entry``."""
        if not isinstance(sdk, cls.sdk_resource):
            raise ConfigError(
                f"integration '{entry.get('name', '')}': expected a "
                f"{cls.sdk_resource.__name__}, not a {type(sdk).__name__}"
            )
        given = {k: getattr(sdk, k) for k in type(sdk).model_fields if getattr(sdk, k) is not None}
        identity = {"integration_name": entry.get("name", "")}
        identity |= {k: entry[k] for k in ("bucket", "container", "prefix") if k in entry}
        cfg = cls(**given, **identity).to_config()
        return {k: getattr(cfg, k) for k in cls.credential_fields}

    @classmethod
    def from_config(cls, cfg: Any) -> Self:
        """A resource holding ``cfg`` (secret values are passed through, never printed)."""
        return cls(**cls.resource_fields(cfg))
