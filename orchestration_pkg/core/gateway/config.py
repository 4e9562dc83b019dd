"""The ``gateway:`` block of the config: the signed-URL gateway and its links."""

from __future__ import annotations

import os

from pydantic import Field, SecretStr, field_validator

from orchestration_pkg.core.providers.base import StrictModel

KEY_ENV = "ORCHESTRATION_PKG_GATEWAY_KEY"
MIN_KEY_CHARS = 32


class RateLimit(StrictModel):
    """A token bucket per credential (bearer token, or a link's client address)."""

    requests_per_second: float = Field(default=50.0, gt=0, description="refill rate")
    burst: int = Field(default=100, ge=1, description="bucket size")


class GatewayConfig(StrictModel):
    """``orchestration-pkg serve`` and ``export --urls gateway``.

    ``signing_keys``: HMAC keys of gateway links, newest first; the first signs, every one
    verifies (rotation: put the new key first, drop the old one to revoke its links). Without
    any, ``$ORCHESTRATION_PKG_GATEWAY_KEY`` is the one key.
    """

    public_url: str | None = Field(
        default=None, description="base URL export --urls gateway writes (or --gateway-url)"
    )
    ttl_s: int = Field(default=300, ge=60, le=86_400, description="redirect URL lifetime")
    link_ttl_s: int = Field(
        default=7 * 86_400, ge=900, le=365 * 86_400, description="export link lifetime"
    )
    signing_keys: list[SecretStr] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit: RateLimit = Field(default_factory=RateLimit)

    @field_validator("signing_keys")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for i, key in enumerate(keys):
            if len(key.get_secret_value()) < MIN_KEY_CHARS:
                raise ValueError(f"signing_keys[{i}] must be at least {MIN_KEY_CHARS} characters")
        return keys

    def keys(self) -> list[bytes]:
        """The HMAC keys (config, else the environment), newest first; may be empty."""
        if self.signing_keys:
            return [k.get_secret_value().encode() for k in self.signing_keys]
        env = os.environ.get(KEY_ENV, "")
        return [env.encode()] if len(env) >= MIN_KEY_CHARS else []
