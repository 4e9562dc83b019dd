"""The GCS client of an integration: credentials (key file, ADC, anonymous) and the pooled,
authorised HTTP session the ``google.cloud.storage.Client`` sends through."""

from __future__ import annotations

import logging

import google.auth
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter

from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.providers.gcs.access import GOOGLE_ENDPOINT
from orchestration_pkg.core.providers.gcs.config import (
    GCSAnonymousAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.urls import safe_endpoint

log = logging.getLogger(__name__)

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"


def authorized_session(credentials: Credentials, pool_size: int) -> AuthorizedSession:
    """A requests session signing with ``credentials`` and pooling ``pool_size`` connections."""
    session = AuthorizedSession(credentials)
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def load_credentials(config: GCSIntegrationConfig) -> Credentials:
    """The credentials of the configured auth method (read-only scope)."""
    auth = config.auth
    if isinstance(auth, GCSAnonymousAuth):
        return AnonymousCredentials()
    if isinstance(auth, GCSServiceAccountAuth):
        return key_file_credentials(auth.key_file)
    credentials, _ = google.auth.default(scopes=[READ_ONLY_SCOPE])
    return credentials


def new_client(
    config: GCSIntegrationConfig, credentials: Credentials, endpoint_url: str | None
) -> storage.Client:
    """A ``storage.Client`` on ``credentials`` with a pool of ``max_pool_connections``."""
    options = {"api_endpoint": config.endpoint_url} if config.endpoint_url else None
    client = storage.Client(
        project=config.project,
        credentials=credentials,
        client_options=options,
        _http=authorized_session(credentials, config.max_pool_connections),
    )
    # google-cloud-storage >= 3.x fetches bucket metadata (buckets.get) in a background
    # thread for tracing attributes: one more request, thread and permission per bucket.
    # Private attribute (no public switch), hence google-cloud-storage <4 in pyproject.toml;
    # ``_http`` above is the client's documented way to pass a configured session.
    if getattr(client, "_bucket_metadata_cache", None) is not None:
        client._bucket_metadata_cache = None
    log.debug(
        "integration %s: GCS client for gs://%s (auth %s, endpoint %s)",
        config.name,
        config.bucket,
        config.auth.method,
        safe_endpoint(endpoint_url) if endpoint_url else GOOGLE_ENDPOINT,
    )
    return client


def key_file_credentials(path: str) -> service_account.Credentials:
    """Read-only-scoped credentials of a service-account JSON key (errors name the path only)."""
    try:
        return service_account.Credentials.from_service_account_file(path, scopes=[READ_ONLY_SCOPE])
    except OSError as exc:
        reason = f"cannot read it ({type(exc).__name__})"
    except (ValueError, KeyError, GoogleAuthError) as exc:
        reason = f"not a service-account JSON key ({type(exc).__name__})"
    error = StorageError(f"service-account key file {path}: {reason}", code="Auth")
    error.provider_code = "KeyFile"  # type: ignore[attr-defined]
    error.status = None  # type: ignore[attr-defined]
    error.operation = "LoadCredentials"  # type: ignore[attr-defined]
    raise error
