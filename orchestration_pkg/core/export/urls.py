"""What URL each exported row gets: ``canonical`` (the catalog's, or its https form where a
tool needs one), ``signed`` (presigned with the integration's credentials) or ``gateway``
(an HMAC-signed link to ``orchestration-pkg serve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from orchestration_pkg.core.errors import ConfigError, StorageError
from orchestration_pkg.core.export.rows import ExportRow
from orchestration_pkg.core.gateway.links import LinkSigner
from orchestration_pkg.core.providers.s3.urls import s3_https_url
from orchestration_pkg.core.storage import MIN_SIGN_TTL, Storage
from orchestration_pkg.core.urls import encode_key_for_url

if TYPE_CHECKING:
    from orchestration_pkg.core.config import AppConfig

UrlMode = Literal["canonical", "signed", "gateway"]
# How a format names objects with --urls canonical: the catalog's URL as stored; "s3_https":
# S3 objects by their https URL (gs:// and Azure's https URLs stay, as Encord and Labelbox
# take them); "https": GCS objects too (storage.googleapis.com); or no URL at all.
UrlStyle = Literal["stored", "s3_https", "https", "none"]
GCS_HOST = "https://storage.googleapis.com"


class CanonicalUrls:
    """The catalog's unsigned URLs (``s3://``/``gs://`` as https for tools that need it)."""

    def __init__(self, config: AppConfig) -> None:
        self._config = config
        self._where: dict[str, tuple[str | None, str | None]] = {}  # name → (endpoint, region)

    def url(self, row: ExportRow, style: UrlStyle) -> str:
        url = row.object_url
        if style == "stored" or not (url.startswith("s3://") or url.startswith("gs://")):
            return url
        if url.startswith("gs://") and style != "https":
            return url
        bucket = url[5:].partition("/")[0]
        endpoint, region = self._location(row.integration)
        if endpoint:
            return f"{endpoint.rstrip('/')}/{bucket}/{encode_key_for_url(row.key)}"
        if url.startswith("gs://"):
            return f"{GCS_HOST}/{bucket}/{encode_key_for_url(row.key)}"
        return s3_https_url(bucket, row.key, region)

    def _location(self, name: str) -> tuple[str | None, str | None]:
        """(endpoint_url, region) of integration ``name`` (None, None when unknown)."""
        if name not in self._where:
            found = next((i for i in self._config.integrations if i.name == name), None)
            self._where[name] = (
                getattr(found, "endpoint_url", None),
                getattr(found, "region", None),
            )
        return self._where[name]


class SignedUrls:
    """Presigned GET URLs, ``ttl`` seconds (already clamped), one storage per integration.

    Integrations that never sign (direct URLs) keep their canonical URL; ``unsigned`` counts
    them. An integration missing from the config is a config error.
    """

    def __init__(self, config: AppConfig, ttl: int) -> None:
        self._config = config
        self._ttl = ttl
        self._storages: dict[str, Storage | None] = {}
        self.unsigned = 0

    def _storage(self, name: str) -> Storage | None:
        if name not in self._storages:
            from orchestration_pkg.core.registration import build_storage

            found = next((i for i in self._config.integrations if i.name == name), None)
            if found is None:
                raise ConfigError(
                    f"integration '{name}' is not in the config: its files cannot be signed"
                )
            self._storages[name] = None if found.provider == "direct" else build_storage(found)
        return self._storages[name]

    def url(self, row: ExportRow, style: UrlStyle) -> str:
        storage = self._storage(row.integration)
        if storage is None:
            self.unsigned += 1
            return row.object_url
        try:
            return storage.sign(row.key, self._ttl, min_ttl=MIN_SIGN_TTL)
        except StorageError as exc:
            if exc.code == "Unsupported":
                self.unsigned += 1
                return row.object_url
            raise


class GatewayUrls:
    """Links to the gateway for ``folder``, all expiring at ``expires`` (Unix time)."""

    def __init__(self, signer: LinkSigner, folder: str, expires: int) -> None:
        self._signer = signer
        self._folder = folder
        self._expires = expires

    def url(self, row: ExportRow, style: UrlStyle) -> str:
        return self._signer.link(self._folder, row.key, self._expires)
