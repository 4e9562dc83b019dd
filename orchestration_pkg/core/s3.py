"""Amazon S3 (and S3-compatible) storage: one bucket + optional prefix, read in place."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import AccessCheckMixin
from orchestration_pkg.core.config import (
    AccessKeyAuth,
    AssumeRoleAuth,
    DefaultAuth,
    S3IntegrationConfig,
)
from orchestration_pkg.core.errors import StorageError, UrlError, provider_error
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import (
    AccessCheck,
    RangeRead,
    clamp_ttl,
    strip_etag,
    total_size,
)
from orchestration_pkg.core.urls import parse_s3_url

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 5}
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
LIST_PAGE_SIZE = 1000
EXTERNAL_ID_PLACEHOLDER = "<external-id>"
CORS_EXPOSE_HEADERS = ["ETag", "Content-Length", "Content-Range", "Accept-Ranges"]

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``access``).
P_ASSUME = "sts:AssumeRole"
P_LIST = "s3:ListBucket"
P_LOCATION = "s3:GetBucketLocation"
P_HEAD = "s3:GetObject (HeadObject)"
P_GET = "s3:GetObject (ranged GetObject)"
P_SIGN = "sign (local)"


# ---------------------------------------------------------------------------------------------
# Error mapping
# ---------------------------------------------------------------------------------------------

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchVersion"}
_THROTTLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
_WRONG_REGION_CODES = {"301", "PermanentRedirect", "AuthorizationHeaderMalformed"}
_TIMEOUT_CODES = {"RequestTimeout", "RequestTimeoutException"}
_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
_NETWORK_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)


def classify(provider_code: str, status: int | None) -> tuple[str, bool]:
    """Map a provider error code / HTTP status to ``(code, transient)``."""
    if provider_code in _AUTH_CODES:
        return "Auth", False
    if provider_code in _NOT_FOUND_CODES or status == 404:
        return "NotFound", False
    if provider_code in _THROTTLE_CODES or status in (429, 503):
        return "Throttled", True
    if provider_code in ("InvalidRange", "416") or status == 416:
        return "InvalidRange", False
    if provider_code == "AccessDenied" or status == 403:
        return "AccessDenied", False
    if provider_code in _WRONG_REGION_CODES or status == 301:
        return "WrongRegion", False
    if provider_code in _TIMEOUT_CODES:
        return "Network", True
    if status is not None and status >= 500:
        return "ServerError", True
    return "Error", False


def safe_endpoint(url: str | None) -> str:
    """``scheme://host:port`` of ``url``: no user info, path or (signed) query string."""
    if not url:
        return "the endpoint"
    parts = urlsplit(url)
    if not parts.hostname:
        return "the endpoint"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def to_storage_error(exc: BaseException, operation: str, target: str) -> StorageError:
    """The one place botocore errors become ``StorageError`` (message: no secrets, no URLs).

    The result carries ``provider_code``, ``status`` and ``operation`` attributes besides
    ``code`` and ``transient``.
    """
    if isinstance(exc, StorageError):
        return exc
    status: int | None = None
    if isinstance(exc, ClientError):
        provider = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code, transient = classify(provider, status)
        if exc.operation_name and exc.operation_name != operation:
            operation = f"{operation}/{exc.operation_name}"
        shown = provider if status is None or str(status) == provider else f"{status} {provider}"
    elif isinstance(exc, _NETWORK_ERRORS):
        provider, code, transient = type(exc).__name__, "Network", True
        endpoint = safe_endpoint(getattr(exc, "kwargs", {}).get("endpoint_url"))
        shown = f"{provider} talking to {endpoint}"
    elif isinstance(exc, _CREDENTIAL_ERRORS):
        provider, code, transient = type(exc).__name__, "Auth", False
        shown = f"{provider}: no usable credentials"
    else:
        provider, code, transient = type(exc).__name__, "Error", False
        shown = provider
    error = provider_error(
        target, operation, code, shown, transient=transient, provider=provider, status=status
    )
    return error


@contextmanager
def mapped_errors(operation: str, target: str) -> Iterator[None]:
    """Re-raise botocore errors raised inside the block as ``StorageError``."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise to_storage_error(exc, operation, target) from exc


# ---------------------------------------------------------------------------------------------
# Policies (pure)
# ---------------------------------------------------------------------------------------------


def partition_for(region: str | None) -> str:
    """The ARN partition of ``region`` (aws, aws-cn, aws-us-gov)."""
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}"


def iam_policy_for(bucket: str, prefix: str = "", partition: str = "aws") -> dict[str, Any]:
    """Least-privilege read policy: list the prefix, get objects under it, bucket location."""
    arn = bucket_arn(bucket, partition)
    listing: dict[str, Any] = {
        "Sid": "ListIntegrationPrefix",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": arn,
    }
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            listing,
            {
                "Sid": "ReadIntegrationObjects",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{arn}/{prefix}*",
            },
            {
                "Sid": "BucketLocation",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": arn,
            },
        ],
    }


def trust_policy_for(principal_arn: str, external_id: str | None = None) -> dict[str, Any]:
    """Role trust policy letting ``principal_arn`` assume the role with the ExternalId."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"sts:ExternalId": external_id or EXTERNAL_ID_PLACEHOLDER}
                },
            }
        ],
    }


def cors_config_for(origins: list[str], max_age: int = 3600) -> dict[str, Any]:
    """Bucket CORS configuration (``put_bucket_cors`` shape) for browser GET/HEAD of objects."""
    if not origins:
        raise ValueError("give at least one allowed origin")
    return {
        "CORSRules": [
            {
                "AllowedOrigins": list(origins),
                "AllowedMethods": ["GET", "HEAD"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": list(CORS_EXPOSE_HEADERS),
                "MaxAgeSeconds": int(max_age),
            }
        ]
    }


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def region_of_location(constraint: str | None) -> str:
    """GetBucketLocation's LocationConstraint as a region name."""
    if not constraint:
        return "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint


def _info(key: str, response: dict[str, Any], size: int | None = None) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=size if size is not None else int(response.get("ContentLength", 0)),
        etag=strip_etag(response.get("ETag")),
        content_type=response.get("ContentType"),
        last_modified=response.get("LastModified"),
    )


# ---------------------------------------------------------------------------------------------
# The storage
# ---------------------------------------------------------------------------------------------


class S3Storage(AccessCheckMixin):
    """``Storage`` over one S3 bucket + optional prefix of an ``S3IntegrationConfig``.

    ``session`` replaces the configured credentials (for ``assume_role`` it is the base
    session that calls STS). The boto3 client is created lazily, once, thread-safely.
    """

    provider = "s3"
    _head_permission = P_HEAD
    _get_permission = P_GET
    _sign_permission = P_SIGN

    def __init__(
        self, config: S3IntegrationConfig, *, session: boto3.Session | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.bucket = config.bucket
        self.prefix = config.prefix
        self.last_sts_params: dict[str, Any] | None = None
        self._given_session = session
        self._session: boto3.Session | None = None
        self._client: Any = None
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
            "read_timeout": READ_TIMEOUT,
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
            config=Config(
                retries=dict(RETRIES), connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT
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
        core._credentials = credentials  # the documented-by-usage way to plug credentials in
        return boto3.Session(botocore_session=core, region_name=self.region)

    # -- URLs -----------------------------------------------------------------------------------

    def parse_url(self, url: str) -> str:
        """The key of ``url``; ``UrlError`` if it is not inside this bucket / prefix / region."""
        loc = parse_s3_url(url, endpoint_url=self.config.endpoint_url)
        if loc.bucket != self.bucket:
            raise UrlError(
                f"belongs to bucket '{loc.bucket}', but integration '{self.name}' "
                f"reads bucket '{self.bucket}'"
            )
        if not loc.key.startswith(self.prefix):
            raise UrlError(f"key is outside the integration prefix '{self.prefix}'")
        if loc.region and self.config.region and loc.region != self.config.region:
            raise UrlError(
                f"is in region '{loc.region}', but integration '{self.name}' "
                f"is configured for region '{self.config.region}'"
            )
        return loc.key

    def canonical_url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- reads ----------------------------------------------------------------------------------

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

    def head(self, key: str) -> ObjectInfo:
        with mapped_errors("HeadObject", self.canonical_url(key)):
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        return _info(key, response)

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

    def open_stream(self, key: str) -> BinaryIO:
        """The streaming GetObject body; the caller closes it."""
        with mapped_errors("GetObject", self.canonical_url(key)):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        return cast(BinaryIO, response["Body"])

    def sign(self, key: str, ttl_seconds: int = 3600) -> str:
        """A presigned GET URL valid ``clamp_ttl(ttl_seconds)`` (capped by temporary creds)."""
        with mapped_errors("PresignGetObject", self.canonical_url(key)):
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=clamp_ttl(ttl_seconds),
            )

    # -- policies -------------------------------------------------------------------------------

    @property
    def partition(self) -> str:
        return partition_for(self.config.region)

    def iam_policy(self) -> dict[str, Any]:
        return iam_policy_for(self.bucket, self.prefix, self.partition)

    def trust_policy(self, principal_arn: str) -> dict[str, Any]:
        auth = self.config.auth
        external_id = (
            auth.external_id.get_secret_value() if isinstance(auth, AssumeRoleAuth) else None
        )
        return trust_policy_for(principal_arn, external_id)

    def cors_config(self, origins: list[str], max_age: int = 3600) -> dict[str, Any]:
        return cors_config_for(origins, max_age)

    def setup_guide(
        self, origins: list[str], max_age: int = 3600, principal_arn: str | None = None
    ) -> dict[str, Any]:
        """Everything a user pastes: IAM policy, trust policy (assume_role), bucket CORS."""
        guide: dict[str, Any] = {
            "iam_policy": self.iam_policy(),
            "cors": self.cors_config(origins, max_age),
        }
        if isinstance(self.config.auth, AssumeRoleAuth):
            principal = principal_arn or "arn:aws:iam::<YOUR_ACCOUNT_ID>:role/<RUNNER_ROLE>"
            guide["trust_policy"] = self.trust_policy(principal)
        guide["notes"] = [
            "attach iam_policy to the IAM user or role the integration uses",
            "paste cors into the bucket's Permissions → CORS (add to existing rules)",
        ]
        return guide

    def record_key(self, key: str) -> str:
        return key

    # -- diagnostics ----------------------------------------------------------------------------

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe AssumeRole, ListBucket, GetBucketLocation, HEAD, ranged GET and signing."""
        rows: list[AccessCheck] = []
        if isinstance(self.config.auth, AssumeRoleAuth):
            rows.append(self._probe(P_ASSUME, self._probe_assume_role))
            if not rows[-1].ok:
                reason = "not tried: sts:AssumeRole failed"
                return rows + [
                    AccessCheck(p, False, reason) for p in (P_LIST, P_LOCATION, P_HEAD, P_GET)
                ]
        first: list[str] = []
        rows.append(self._probe(P_LIST, lambda: self._probe_list(first)))
        rows.append(self._check_location())
        key = self._check_key(url_or_key, first, rows)
        rows += self._object_rows(key, rows)
        rows.append(self._sign_row(key))
        return rows

    def _probe_assume_role(self) -> str:
        _ = self.client
        auth = cast(AssumeRoleAuth, self.config.auth)
        return f"assumed {auth.role_arn} as session '{auth.session_name}'"

    def _probe_list(self, first: list[str]) -> str:
        with mapped_errors("ListObjectsV2", self.canonical_url(self.prefix)):
            response = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1
            )
        first.extend(item["Key"] for item in response.get("Contents", []))
        return f"listed {len(first)} key(s) under {self.canonical_url(self.prefix)}"

    def _check_location(self) -> AccessCheck:
        try:
            with mapped_errors("GetBucketLocation", self.canonical_url("")):
                response = self.client.get_bucket_location(Bucket=self.bucket)
        except StorageError as err:
            return AccessCheck(P_LOCATION, False, str(err), self.fix_for(P_LOCATION, err))
        actual = region_of_location(response.get("LocationConstraint"))
        wanted = self.config.region
        if wanted and wanted != actual:
            detail = f"bucket is in '{actual}', but the integration says region '{wanted}'"
            return AccessCheck(P_LOCATION, False, detail, f"set region: {actual}")
        return AccessCheck(P_LOCATION, True, f"bucket region: {actual} (informational)")

    def _probe_sign(self, key: str) -> str:
        self.sign(key)
        detail = "presigned GET generated locally, not fetched"
        if isinstance(self.config.auth, AssumeRoleAuth):
            detail += "; the role session's expiry caps the URL lifetime"
        return detail

    def fix_for(self, permission: str, err: StorageError) -> str:
        """A concrete next step for a failed probe."""
        provider = getattr(err, "provider_code", err.code)
        arn = bucket_arn(self.bucket, self.partition)
        if err.code == "AccessDenied":
            return f"{provider}: {self._grant_for(permission, arn)}"
        if provider == "NoSuchBucket" or (
            err.code == "NotFound" and permission in (P_LIST, P_LOCATION)
        ):
            where = safe_endpoint(self.config.endpoint_url) if self.config.endpoint_url else None
            return (
                f"NoSuchBucket: bucket '{self.bucket}' does not exist at {where or self.region}; "
                "check the bucket name, region and endpoint_url"
            )
        if err.code == "NotFound":
            return (
                f"{provider}: no object at this key; check the key (case-sensitive) "
                f"and that it lies under '{self.prefix}'"
            )
        return _GENERIC_FIXES.get(provider) or _GENERIC_FIXES.get(
            err.code, f"{provider}: see detail"
        )

    def _grant_for(self, permission: str, arn: str) -> str:
        if permission == P_ASSUME:
            auth = cast(AssumeRoleAuth, self.config.auth)
            return (
                "check the role trust policy and the ExternalId "
                f"(the caller needs sts:AssumeRole on {auth.role_arn})"
            )
        if permission == P_LIST:
            cond = f" with condition s3:prefix = '{self.prefix}*'" if self.prefix else ""
            return f"add s3:ListBucket on {arn}{cond}"
        if permission == P_LOCATION:
            return f"add s3:GetBucketLocation on {arn} (optional: only confirms the region)"
        return (
            f"add s3:GetObject on {arn}/{self.prefix}* "
            "(S3 also answers 403 for a missing key when s3:ListBucket is not granted)"
        )


_GENERIC_FIXES = {
    "InvalidAccessKeyId": "InvalidAccessKeyId: check the access key / secret",
    "SignatureDoesNotMatch": "SignatureDoesNotMatch: check the access key / secret",
    "InvalidClientTokenId": "InvalidClientTokenId: check the access key / secret",
    "ExpiredToken": "ExpiredToken: the session token expired; supply fresh credentials "
    "or use assume_role (refreshed automatically)",
    "ExpiredTokenException": "ExpiredToken: the session token expired; supply fresh credentials",
    "Auth": "no usable credentials: set access keys or configure the default AWS chain",
    "WrongRegion": "the bucket lives in another region: set region in the integration config",
    "Network": "endpoint unreachable: check endpoint_url, DNS, proxy and firewall",
    "Throttled": "throttled by the provider: transient, retry later",
    "ServerError": "provider server error: transient, retry later",
    "InvalidRange": "InvalidRange: the object is shorter than the requested range",
}
