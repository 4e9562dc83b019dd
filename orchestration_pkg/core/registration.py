"""One call that the CLI and the Dagster assets share: open everything, register, close."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import cast
from urllib.parse import urlsplit

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig
from orchestration_pkg.core.engine import Progress, RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import ManifestError, UrlError
from orchestration_pkg.core.manifest import Manifest, read_manifest
from orchestration_pkg.core.manifest.limits import DEFAULT_LIMITS, InputLimits
from orchestration_pkg.core.models import JobResult
from orchestration_pkg.core.providers.registry import provider
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.core.urls import redact_url

SPOOL_CHUNK = 1 << 20


def build_storage(config: AnyIntegrationConfig) -> Storage:
    """The storage implementation for one configured integration."""
    # The registry imports the storage class lazily: a provider's SDK loads only when used.
    storage_class = provider(config.provider).storage_class()
    return cast(Storage, storage_class(config))


def with_policies(
    config: AppConfig,
    integration: AnyIntegrationConfig,
    folder: str,
    options: RegistrationOptions | None = None,
) -> RegistrationOptions:
    """``options`` with the folder's (else the integration's) requirements and quotas, unless
    the options already carry their own."""
    requirements, quotas = config.policy_for(integration, folder)
    opts = options or RegistrationOptions()
    return replace(
        opts, requirements=opts.requirements or requirements, quotas=opts.quotas or quotas
    )


def is_remote(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


@contextlib.contextmanager
def open_manifest(
    source: str, storage: Storage, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[Manifest]:
    """Open a manifest given as a local path or an object URL in ``storage``; streamed.
    ``limits`` (the config's ``limits:``) bound what one row may hold."""
    if is_remote(source):
        try:
            key = storage.parse_url(source)
        except UrlError as exc:
            raise ManifestError(f"manifest {redact_url(source)}: {exc}") from None
        # Spooled to a local temporary file (streamed, constant memory) rather than parsed from
        # the network stream: Encord-style flags may trail the lists, and finding them before
        # the first row needs a seekable source. The file is deleted when the job ends.
        stream = storage.open_stream(key)
        shown = storage.canonical_url(key)  # no query string: never a signature in messages
        suffix = PurePosixPath(urlsplit(shown).path).suffix
        try:
            with tempfile.NamedTemporaryFile(prefix="manifest-", suffix=suffix) as tmp:
                shutil.copyfileobj(stream, tmp, SPOOL_CHUNK)
                tmp.flush()
                with read_manifest(tmp.name, name=shown, limits=limits) as manifest:
                    yield manifest
        finally:
            stream.close()
        return
    path = Path(source.removeprefix("file://"))
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist or is not a file")
    with read_manifest(path, limits=limits) as manifest:
        yield manifest


def register_manifest(
    config: AppConfig,
    source: str,
    folder: str,
    *,
    integration: str | None = None,
    options: RegistrationOptions | None = None,
    catalog: Catalog | None = None,
    storage: Storage | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> JobResult:
    """Register the manifest at ``source`` into ``folder`` and return the finished job."""
    integration_cfg = config.integration(integration or (storage.name if storage else None))
    storage = storage or build_storage(integration_cfg)
    options = with_policies(config, integration_cfg, folder, options)
    own_catalog = catalog is None
    catalog = catalog or Catalog.for_config(config)
    try:
        with open_manifest(source, storage, config.limits) as manifest:
            engine = RegistrationEngine(catalog, storage)
            return engine.register(
                manifest, folder, options, manifest_name=source, progress=progress
            )
    finally:
        if own_catalog:
            catalog.dispose()
