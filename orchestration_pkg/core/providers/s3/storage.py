"""Amazon S3 (and S3-compatible) storage: one bucket + optional prefix, read in place."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, cast

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from orchestration_pkg.core.errors import StorageError, UrlError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.providers.s3.access import P_ASSUME as P_ASSUME
from orchestration_pkg.core.providers.s3.access import P_GET as P_GET
from orchestration_pkg.core.providers.s3.access import P_HEAD as P_HEAD
from orchestration_pkg.core.providers.s3.access import P_LIST as P_LIST
from orchestration_pkg.core.providers.s3.access import P_LOCATION as P_LOCATION
from orchestration_pkg.core.providers.s3.access import P_SIGN as P_SIGN
from orchestration_pkg.core.providers.s3.access import S3Access
from orchestration_pkg.core.providers.s3.config import (
    AccessKeyAuth,
    AssumeRoleAuth,
    DefaultAuth,
    S3IntegrationConfig,
)
from orchestration_pkg.core.providers.s3.errors import mapped_errors
from orchestration_pkg.core.providers.s3.presign import FastPresigner
from orchestration_pkg.core.providers.s3.urls import DEFAULT_REGION, parse_s3_url
from orchestration_pkg.core.retry import retried, retried_listing
from orchestration_pkg.core.storage import (
    MIN_SIGN_TTL,
    RangeRead,
    clamp_ttl,
    strip_etag,
    total_size,
)
from orchestration_pkg.core.urls import check_in_scope

log = logging.getLogger(__name__)

# botocore's own retries are off for S3 requests: core/retry.py's one policy retries them.
RETRIES: dict[str, Any] = {"mode": "standard", "total_max_attempts": 1}
CONNECT_TIMEOUT = 5  # the read timeout is retry.read_timeout_seconds
LIST_PAGE_SIZE = 1000


def _info(key: str, response: dict[str, Any], size: int | None = None) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=size if size is not None else int(response.get("ContentLength", 0)),
        etag=strip_etag(response.get("ETag")),
        content_type=response.get("ContentType"),
        last_modified=response.get("LastModified"),
    )


class S3Storage(S3Access):
    """``Storage`` over one S3 bucket + optional prefix of an ``S3IntegrationConfig``.

    ``session`` replaces the configured credentials (for ``assume_role`` it is the base
    session that calls STS). The boto3 client is created lazily, once, thread-safely.
    """

    provider = "s3"
    strict_client_only = False

    def __init__(
        self, config: S3IntegrationConfig, *, session: boto3.Session | None = None
    ) -> None:
        self.config = config
        self.retry_policy = config.retry.policy()
        self.name = config.name
        self.bucket = config.bucket
        self.prefix = config.prefix
        self.last_sts_params: dict[str, Any] | None = None
        self._given_session = session
        self._session: boto3.Session | None = None
        self._client: Any = None
        self._presigner: FastPresigner | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"S3Storage(name={self.name!r}, bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"auth={self.config.auth.method!r})"
        )

    # -- client / credentials ------------------------------------------------------------------

    @property
    def region(self) -> str:
        return self.config.region or DEFAULT_REGION

    def botocore_config(self) -> Config:
        """Client config: SigV4, standard retries, pool size, timeouts, path style on custom
        endpoints."""
        kwargs: dict[str, Any] = {
            "signature_version": "s3v4",
            "retries": dict(RETRIES),
            "max_pool_connections": self.config.max_pool_connections,
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": self.retry_policy.read_timeout_seconds,
        }
        if self.config.endpoint_url:
            kwargs["s3"] = {"addressing_style": "path"}
        return Config(**kwargs)

    @property
    def session(self) -> boto3.Session:
        """The boto3 session carrying this integration's credentials (built once)."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._build_session()
        return self._session

    @property
    def client(self) -> Any:
        """The cached, thread-safe boto3 S3 client."""
        if self._client is None:
            session = self.session
            with self._lock:
                if self._client is None:
                    self._client = session.client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.config.endpoint_url,
                        config=self.botocore_config(),
                    )
        return self._client

    def credentials(self) -> Any:
        """botocore credentials in use (``RefreshableCredentials`` for assume_role)."""
        return self.session.get_credentials()

    def _build_session(self) -> boto3.Session:
        auth = self.config.auth
        if isinstance(auth, AssumeRoleAuth):
            return self._assume_role_session(auth, self._base_session(auth))
        if self._given_session is not None:
            return self._given_session
        if isinstance(auth, AccessKeyAuth):
            token = auth.session_token.get_secret_value() if auth.session_token else None
            return boto3.Session(
                aws_access_key_id=auth.access_key_id.get_secret_value(),
                aws_secret_access_key=auth.secret_access_key.get_secret_value(),
                aws_session_token=token,
                region_name=self.region,
            )
        assert isinstance(auth, DefaultAuth)
        return boto3.Session(profile_name=auth.profile, region_name=self.region)

    def _base_session(self, auth: AssumeRoleAuth) -> boto3.Session:
        """Credentials that call STS: the given session, the given keys, else the chain."""
        if self._given_session is not None:
            return self._given_session
        if auth.access_key_id and auth.secret_access_key:
            return boto3.Session(
                aws_access_key_id=auth.access_key_id.get_secret_value(),
                aws_secret_access_key=auth.secret_access_key.get_secret_value(),
                region_name=self.region,
            )
        return boto3.Session(region_name=self.region)

    def assume_role_params(self) -> dict[str, Any]:
        """The exact kwargs sent to ``sts.assume_role`` (ExternalId always included)."""
        auth = self.config.auth
        if not isinstance(auth, AssumeRoleAuth):
            raise ValueError(f"integration '{self.name}' does not use assume_role")
        return {
            "RoleArn": auth.role_arn,
            "RoleSessionName": auth.session_name,
            "ExternalId": auth.external_id.get_secret_value(),
            "DurationSeconds": auth.duration_seconds,
        }

    def _record_sts_params(self, params: dict[str, Any], **_: Any) -> None:
        self.last_sts_params = dict(params)

    def _assume_role_session(self, auth: AssumeRoleAuth, base: boto3.Session) -> boto3.Session:
        """A session whose credentials come from STS AssumeRole and refresh before expiry."""
        sts = base.client(
            "sts",
            region_name=self.region,
            endpoint_url=auth.sts_endpoint_url or self.config.endpoint_url,
            # Credential refreshes happen inside botocore, outside our retry loop: botocore
            # retries them with the policy's attempt count.
            config=Config(
                retries={"mode": "standard", "total_max_attempts": self.retry_policy.max_attempts},
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=self.retry_policy.read_timeout_seconds,
            ),
        )
        sts.meta.events.register("before-parameter-build.sts.AssumeRole", self._record_sts_params)

        def refresh() -> dict[str, Any]:
            creds = sts.assume_role(**self.assume_role_params())["Credentials"]
            expiry = creds["Expiration"]
            log.debug("integration %s: assumed role %s", self.name, auth.role_arn)
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else expiry,
            }

        with mapped_errors("AssumeRole", auth.role_arn):
            credentials = RefreshableCredentials.create_from_metadata(
                metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
            )
        core = botocore.session.Session()
        # Private botocore API (``Session._credentials``): botocore has no public setter for
        # refreshable credentials. botocore is pinned to <2 in pyproject.toml for it.
        core._credentials = credentials
        return boto3.Session(botocore_session=core, region_name=self.region)

    # -- URLs -----------------------------------------------------------------------------------

    def parse_url(self, url: str) -> str:
        """The key of ``url``; ``UrlError`` if it is not inside this bucket / prefix / region."""
        loc = parse_s3_url(url, endpoint_url=self.config.endpoint_url)
        check_in_scope(self.name, "bucket", loc.bucket, self.bucket, loc.key, self.prefix)
        if loc.region and self.config.region and loc.region != self.config.region:
            raise UrlError(
                f"is in region '{loc.region}', but integration '{self.name}' "
                f"is configured for region '{self.config.region}'"
            )
        return loc.key

    def canonical_url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- reads ----------------------------------------------------------------------------------

    @retried_listing
    def list(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Objects under the integration prefix + ``prefix``, in key order, 1000 per page."""
        full_prefix = self.prefix + prefix
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": full_prefix,
            "PaginationConfig": {"PageSize": LIST_PAGE_SIZE},
        }
        if start_after:
            kwargs["StartAfter"] = start_after
        with mapped_errors("ListObjectsV2", self.canonical_url(full_prefix)):
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        etag=strip_etag(item.get("ETag")),
                        last_modified=item.get("LastModified"),
                    )

    @retried
    def head(self, key: str) -> ObjectInfo:
        with mapped_errors("HeadObject", self.canonical_url(key)):
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        return _info(key, response)

    @retried
    def read_range(self, key: str, start: int, length: int) -> RangeRead:
        """``length`` bytes from ``start``; ``info.size`` is the whole object's size."""
        if start < 0 or length <= 0:
            raise ValueError("read_range needs start >= 0 and length > 0")
        try:
            with mapped_errors("GetObject", self.canonical_url(key)):
                response = self.client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
                )
                body = response["Body"]
                try:
                    data = body.read()
                finally:
                    body.close()
        except StorageError as err:
            if err.code == "InvalidRange":
                info = self.head(key)
                if info.size == 0:
                    return RangeRead(b"", info)
            raise
        size = total_size(response.get("ContentRange"))
        if size is None:  # the server ignored the Range header and sent the whole object
            size = len(data)
            data = data[start : start + length]
        return RangeRead(data, _info(key, response, size=size))

    @retried
    def open_stream(self, key: str) -> BinaryIO:
        """The streaming GetObject body; the caller closes it."""
        with mapped_errors("GetObject", self.canonical_url(key)):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        return cast(BinaryIO, response["Body"])

    def sign(self, key: str, ttl_seconds: int = 3600, *, min_ttl: int = MIN_SIGN_TTL) -> str:
        """A presigned GET URL valid ``clamp_ttl(ttl_seconds, min_ttl)`` (capped by temporary
        creds); botocore's URL, signed by :class:`FastPresigner` (presign.py).

        Once the presigner exists, signing is computation (plus the credentials' own refresh
        check): it is called directly, and only if it raises is the URL made again under the
        retry policy and the error mapping (the gateway signs thousands a second; the retry
        and mapping wrappers alone would cost as much as the signature)."""
        presigner = self._presigner
        if presigner is not None:
            try:
                return presigner.presign(key, clamp_ttl(ttl_seconds, min_ttl))
            except Exception:  # noqa: BLE001 - redone below, where errors are retried and mapped
                pass
        return self._sign_retried(key, ttl_seconds, min_ttl=min_ttl)

    @retried
    def _sign_retried(self, key: str, ttl_seconds: int, *, min_ttl: int) -> str:
        with mapped_errors("PresignGetObject", self.canonical_url(key)):
            return self.presigner.presign(key, clamp_ttl(ttl_seconds, min_ttl))

    @property
    def presigner(self) -> FastPresigner:
        """The cached presigner of this bucket (layout learnt from the boto3 client once)."""
        if self._presigner is None:
            client = self.client
            with self._lock:
                if self._presigner is None:
                    self._presigner = FastPresigner(client, self.bucket, self.credentials)
        return self._presigner

    def record_key(self, key: str) -> str:
        """The key as recorded in the catalog (S3 keys are stored as they are)."""
        return key
