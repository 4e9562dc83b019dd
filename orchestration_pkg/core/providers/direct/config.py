"""Config of a direct-access integration (user-supplied URLs, SSRF allow-list)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from orchestration_pkg.core.providers.base import IntegrationBase


class DirectIntegrationConfig(IntegrationBase):
    """User-supplied pre-signed or unsigned URLs; we never sign.

    ``strict_client_only``: never fetch anything; rows must carry their metadata.
    ``allow_hosts``: host names or CIDRs that may be fetched even if they resolve to loopback,
    private, link-local or multicast addresses (SSRF allow-list).
    """

    provider: Literal["direct"]
    strict_client_only: bool = False
    allow_hosts: list[str] = Field(default_factory=list)
    url_prefixes: list[str] = Field(
        default_factory=list, description="if set, object URLs must start with one of these"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_redirects: int = Field(default=3, ge=0, le=10)

    @field_validator("allow_hosts")
    @classmethod
    def _valid_hosts(cls, hosts: list[str]) -> list[str]:
        """Checked when the config is read, not first when a URL is fetched (netguard, which
        loads urllib3, is imported only when there are entries)."""
        if not hosts:
            return hosts
        from orchestration_pkg.core.errors import ConfigError
        from orchestration_pkg.core.netguard.policy import NetworkPolicy

        try:
            NetworkPolicy(hosts)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return hosts

    @model_validator(mode="after")
    def _cannot_watch(self) -> DirectIntegrationConfig:
        if self.manifests is not None:
            raise ValueError("direct access cannot list, so it cannot watch for manifests")
        if self.watch is not None:
            raise ValueError("direct access cannot list, so it cannot watch a prefix (watch:)")
        return self

    def location(self) -> str:
        return ", ".join(self.url_prefixes) or "(any URL)"

    def auth_summary(self) -> str:
        return "strict client-only" if self.strict_client_only else "pre-signed / unsigned URLs"
