"""What a GCS bucket owner sets up (IAM bindings, CORS) and the ``check`` diagnostics."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from google.oauth2 import service_account

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import AccessCheckMixin
from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.providers.gcs.config import (
    GCSAnonymousAuth,
    GCSIntegrationConfig,
    GCSServiceAccountAuth,
)
from orchestration_pkg.core.providers.gcs.errors import SIGNING_FIX
from orchestration_pkg.core.storage import AccessCheck
from orchestration_pkg.core.urls import safe_endpoint

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

GOOGLE_ENDPOINT = "https://storage.googleapis.com"
CORS_RESPONSE_HEADERS = ["Content-Type", "Content-Range", "Accept-Ranges", "ETag"]
MEMBER_PLACEHOLDER = "serviceAccount:SERVICE_ACCOUNT_EMAIL"

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``core.access``).
P_LIST = "storage.objects.list"
P_HEAD = "storage.objects.get (metadata)"
P_GET = "storage.objects.get (ranged read)"
P_SIGN = "sign (V4)"


def _cel_string(value: str) -> str:
    """A CEL string literal (JSON escaping is valid CEL: quotes, backslashes, \\uXXXX)."""
    return json.dumps(value)


def prefix_condition(bucket: str, prefix: str) -> dict[str, str]:
    """IAM condition limiting object reads to ``prefix`` and listing to list-prefixes under it."""
    objects = _cel_string(f"projects/_/buckets/{bucket}/objects/{prefix}")
    expression = (
        f"resource.name.startsWith({objects}) || "
        'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
        f".startsWith({_cel_string(prefix)})"
    )
    return {
        "title": "orchestration-pkg prefix",
        "description": f"read and list only gs://{bucket}/{prefix}",
        "expression": expression,
    }


def iam_bindings_for(
    bucket: str, prefix: str = "", member: str = MEMBER_PLACEHOLDER
) -> dict[str, Any]:
    """Bucket IAM bindings: objectViewer (prefix-conditioned when a prefix is set).

    Without a prefix ``roles/storage.legacyBucketReader`` adds ``storage.buckets.get``. With a
    prefix it is left out: legacy roles take no IAM condition and would list the whole bucket.
    """
    viewer: dict[str, Any] = {"role": "roles/storage.objectViewer", "members": [member]}
    bindings = [viewer]
    if prefix:
        viewer["condition"] = prefix_condition(bucket, prefix)
    else:
        bindings.append({"role": "roles/storage.legacyBucketReader", "members": [member]})
    return {"resource": f"projects/_/buckets/{bucket}", "bindings": bindings}


def cors_config_for(origins: list[str], max_age: int = 3600) -> list[dict[str, Any]]:
    """Bucket CORS (``gcloud storage buckets update --cors-file`` shape) for browser GET/HEAD."""
    if not origins:
        raise ValueError("give at least one allowed origin")
    return [
        {
            "origin": list(origins),
            "method": ["GET", "HEAD"],
            "responseHeader": list(CORS_RESPONSE_HEADERS),
            "maxAgeSeconds": int(max_age),
        }
    ]


def setup_notes(bucket: str, prefix: str) -> list[str]:
    notes = [
        f"Apply the bindings with: gcloud storage buckets add-iam-policy-binding gs://{bucket} "
        "--member=MEMBER --role=ROLE [--condition=...]",
        f"Apply CORS with: gcloud storage buckets update gs://{bucket} --cors-file=cors.json",
        f"Signed URLs need a service-account key, or: {SIGNING_FIX}.",
        "Signed URLs are valid 15 minutes to 24 hours.",
    ]
    if prefix:
        notes.insert(1, "IAM conditions need uniform bucket-level access on the bucket.")
    return notes


class GCSAccess(AccessCheckMixin):
    """Setup guide and ``check`` of ``GCSStorage`` (bindings, probes and the fix for each)."""

    _head_permission = P_HEAD
    _get_permission = P_GET
    _sign_permission = P_SIGN

    config: GCSIntegrationConfig
    bucket: str
    _client_email: str | None
    _credentials: Credentials | None

    if TYPE_CHECKING:

        @property
        def credentials(self) -> Credentials: ...

        @property
        def endpoint_url(self) -> str | None: ...

        def sign(self, key: str, ttl_seconds: int = 3600) -> str: ...

        def _probe_list(self, first: list[str]) -> str: ...

    def principal(self) -> str | None:
        """``serviceAccount:EMAIL`` of the credentials, when known without a network call."""
        email = self._client_email
        auth = self.config.auth
        if email is None and isinstance(auth, GCSServiceAccountAuth):
            email = self._client_email = _key_file_email(auth.key_file)
        if email is None and self._credentials is not None:
            candidate = getattr(self._credentials, "service_account_email", None)
            email = candidate if isinstance(candidate, str) and "@" in candidate else None
        return f"serviceAccount:{email}" if email else None

    def iam_bindings(self, member: str | None = None) -> dict[str, Any]:
        member = member or self.principal() or MEMBER_PLACEHOLDER
        return iam_bindings_for(self.bucket, self.prefix, member)

    def cors_config(self, origins: list[str], max_age: int = 3600) -> list[dict[str, Any]]:
        return cors_config_for(origins, max_age)

    def setup_guide(
        self, origins: list[str], max_age: int = 3600, *, principal: str | None = None
    ) -> dict[str, Any]:
        """What the bucket owner applies: IAM bindings, CORS rules and short notes.

        ``principal``: the IAM member to bind (``serviceAccount:EMAIL``); default: the
        credentials' service account when known, else a placeholder.
        """
        return {
            "iam": self.iam_bindings(principal),
            "cors": self.cors_config(origins, max_age),
            "notes": setup_notes(self.bucket, self.prefix),
        }

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe objects.list, objects.get (metadata and ranged read) and V4 signing."""
        first: list[str] = []
        rows = [self._probe(P_LIST, lambda: self._probe_list(first))]
        key = self._check_key(url_or_key, first, rows)
        if key is not None and self._bucket_missing(rows[0]):
            reason = f"not tried: bucket '{self.bucket}' does not exist"
            rows += [AccessCheck(p, False, reason) for p in (P_HEAD, P_GET)]
        else:
            rows += self._object_rows(key, rows)
        rows.append(self._sign_row(key))
        return rows

    @staticmethod
    def _bucket_missing(row: AccessCheck) -> bool:
        return not row.ok and "ListObjects NotFound" in row.detail

    def _probe_sign(self, key: str) -> str:
        self.sign(key)
        if isinstance(self.credentials, service_account.Credentials):
            return "V4 signed GET generated locally with the key file, not fetched"
        return "V4 signed GET generated via IAM signBlob, not fetched"

    def fix_for(self, permission: str, err: StorageError) -> str:
        """A concrete next step for a failed probe."""
        provider = getattr(err, "provider_code", err.code)
        if err.code == "SigningUnavailable":
            return f"SigningUnavailable: {SIGNING_FIX}"
        if err.code == "AccessDenied":
            return f"{provider}: {self._grant_for(permission)}"
        if err.code == "NotFound" and permission == P_LIST:
            where = safe_endpoint(self.endpoint_url) if self.endpoint_url else GOOGLE_ENDPOINT
            return (
                f"NoSuchBucket: bucket '{self.bucket}' does not exist at {where}; "
                "check the bucket name and endpoint_url"
            )
        if err.code == "NotFound":
            return (
                f"NoSuchKey: no object at this key; check the key (case-sensitive) "
                f"and that it lies under '{self.prefix}'"
            )
        if err.code == "Auth":
            return f"{provider}: {self._auth_fix()}"
        return _GENERIC_FIXES.get(provider) or _GENERIC_FIXES.get(
            err.code, f"{provider}: see detail"
        )

    def _grant_for(self, permission: str) -> str:
        if isinstance(self.config.auth, GCSAnonymousAuth):
            return (
                f"gs://{self.bucket} does not allow anonymous reads; use auth method "
                "service_account or adc"
            )
        member = self.principal() or MEMBER_PLACEHOLDER
        needed = "storage.objects.list" if permission == P_LIST else "storage.objects.get"
        scope = (
            f" with the IAM condition on prefix '{self.prefix}' from setup_guide"
            if self.prefix
            else ""
        )
        return (
            f"grant roles/storage.objectViewer on gs://{self.bucket} to {member}{scope} "
            f"(needs {needed})"
        )

    def _auth_fix(self) -> str:
        auth = self.config.auth
        if isinstance(auth, GCSServiceAccountAuth):
            return (
                f"check the key file {auth.key_file}: it must be a JSON key of an enabled "
                "service account whose key has not been deleted"
            )
        return (
            "no usable application default credentials: run 'gcloud auth application-default "
            "login' or set GOOGLE_APPLICATION_CREDENTIALS"
        )


_GENERIC_FIXES = {
    "AuthTransportError": "auth endpoint unreachable: check access to the key file's token_uri "
    "(oauth2.googleapis.com) or the metadata server, proxies and firewall",
    "Network": "endpoint unreachable: check endpoint_url, DNS, proxy and firewall",
    "Throttled": "throttled by the provider: transient, retry later",
    "ServerError": "provider server error: transient, retry later",
    "InvalidRange": "InvalidRange: the object is shorter than the requested range",
    "Corrupted": "checksum mismatch: transient, retry later",
}


def _key_file_email(path: str) -> str | None:
    """``client_email`` of a service-account key file, or None (nothing else is kept)."""
    try:
        with open(path, encoding="utf-8") as handle:
            email = json.load(handle).get("client_email")
    except (OSError, ValueError, AttributeError):
        return None
    return email if isinstance(email, str) and "@" in email else None
