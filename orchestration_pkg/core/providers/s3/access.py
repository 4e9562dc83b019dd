"""What an S3 bucket owner sets up (IAM, trust policy, CORS) and the ``check`` diagnostics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import AccessCheckMixin
from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.providers.s3.config import AssumeRoleAuth, S3IntegrationConfig
from orchestration_pkg.core.providers.s3.errors import mapped_errors
from orchestration_pkg.core.storage import AccessCheck
from orchestration_pkg.core.urls import safe_endpoint

EXTERNAL_ID_PLACEHOLDER = "<external-id>"
CORS_EXPOSE_HEADERS = ["ETag", "Content-Length", "Content-Range", "Accept-Ranges"]

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``core.access``).
P_ASSUME = "sts:AssumeRole"
P_LIST = "s3:ListBucket"
P_LOCATION = "s3:GetBucketLocation"
P_HEAD = "s3:GetObject (HeadObject)"
P_GET = "s3:GetObject (ranged GetObject)"
P_SIGN = "sign (local)"


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


def region_of_location(constraint: str | None) -> str:
    """GetBucketLocation's LocationConstraint as a region name."""
    if not constraint:
        return "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint


class S3Access(AccessCheckMixin):
    """Setup guide and ``check`` of ``S3Storage`` (policies, probes and the fix for each)."""

    _head_permission = P_HEAD
    _get_permission = P_GET
    _sign_permission = P_SIGN

    config: S3IntegrationConfig
    bucket: str

    if TYPE_CHECKING:

        @property
        def client(self) -> Any: ...

        @property
        def region(self) -> str: ...

        def sign(self, key: str, ttl_seconds: int = 3600) -> str: ...

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
        self, origins: list[str], max_age: int = 3600, *, principal: str | None = None
    ) -> dict[str, Any]:
        """Everything a user pastes: IAM policy, trust policy (assume_role), bucket CORS.

        ``principal``: ARN of the identity that assumes the role (trust policy).
        """
        guide: dict[str, Any] = {
            "iam_policy": self.iam_policy(),
            "cors": self.cors_config(origins, max_age),
        }
        if isinstance(self.config.auth, AssumeRoleAuth):
            arn = principal or "arn:aws:iam::<YOUR_ACCOUNT_ID>:role/<RUNNER_ROLE>"
            guide["trust_policy"] = self.trust_policy(arn)
        guide["notes"] = [
            "attach iam_policy to the IAM user or role the integration uses",
            "paste cors into the bucket's Permissions → CORS (add to existing rules)",
        ]
        return guide

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
