"""Names of the jobs, ops, sensors, schedules, partitions and the resource key of one
``build_definitions`` call, derived from its translator's key prefix.

With the default key prefix (``orchestration_pkg``) every name is today's
(``register_manifest_job``, ``retry_units_job``, ``watch_sensor_acme``, resource ``platform``,
asset ``integration_health``). Any other prefix scopes them: ``<scope>__<name>``, where the
scope is the prefix as a Dagster name (letters, digits, underscores; a prefix with other
characters gets a short digest so that different prefixes never share names), e.g. key prefix
``media`` → ``media__register_manifest_job``, resource key ``media__platform``, asset
``[media, integration_health]``. So two components (or two ``build_definitions`` calls merged
with ``Definitions.merge``) with different key prefixes load side by side in one code location.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from dagster import AssetKey

from orchestration_pkg.resources.platform import PlatformResource

from .translator import DEFAULT_KEY_PREFIX, ident

_NAME = re.compile(r"[A-Za-z0-9_]+")


def scope_of(key_prefix: str) -> str:
    """The key prefix as a Dagster name part ("" for the default prefix)."""
    if key_prefix == DEFAULT_KEY_PREFIX:
        return ""
    if _NAME.fullmatch(key_prefix):
        return key_prefix
    return f"{ident(key_prefix)}_{hashlib.sha1(key_prefix.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class DefinitionNames:
    """Every global name of one set of definitions (see the module docstring)."""

    key_prefix: str = DEFAULT_KEY_PREFIX

    def __call__(self, base: str) -> str:
        """``base`` as this set's name: unchanged for the default key prefix."""
        scope = scope_of(self.key_prefix)
        return f"{scope}__{base}" if scope else base

    @property
    def resource_key(self) -> str:
        """The key of the ``PlatformResource`` every op, asset and sensor requires."""
        return self("platform")

    @property
    def register_job(self) -> str:
        return self("register_manifest_job")

    @property
    def register_op(self) -> str:
        return self("register_manifest")

    @property
    def retry_job(self) -> str:
        return self("retry_units_job")

    @property
    def retry_op(self) -> str:
        return self("retry_failed_units")

    @property
    def retry_sensor(self) -> str:
        return self("retry_transient_units")

    @property
    def sweep_sensor(self) -> str:
        return self("sweep_abandoned_jobs")

    @property
    def health_key(self) -> AssetKey:
        """``integration_health``, or ``[key_prefix, "integration_health"]``."""
        base = "integration_health"
        return (
            AssetKey(base) if not scope_of(self.key_prefix) else AssetKey([self.key_prefix, base])
        )

    def batches(self, integration: str) -> str:
        """The dynamic partitions of a watched integration's folder asset."""
        return self(f"{ident(integration)}_batches")

    def watch_job(self, integration: str) -> str:
        return self(f"watch_job_{ident(integration)}")

    def watch_sensor(self, integration: str) -> str:
        return self(f"watch_sensor_{ident(integration)}")

    def sync_job(self, integration: str) -> str:
        return self(f"watch_sync_job_{ident(integration)}")

    def sync_op(self, integration: str) -> str:
        return self(f"watch_sync_op_{ident(integration)}")

    def sync_schedule(self, integration: str) -> str:
        return self(f"watch_sync_{ident(integration)}")

    def manifest_sensor(self, integration: str) -> str:
        return self(f"manifest_sensor_{ident(integration)}")

    def platform(self, context: Any) -> PlatformResource:
        """The ``PlatformResource`` of an op, asset or sensor context (a sensor function also
        takes ``**_resources``: a direct invocation passes its required resources as keywords)."""
        return getattr(context.resources, self.resource_key)


DEFAULT_NAMES = DefinitionNames()
