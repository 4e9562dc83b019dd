"""What an Azure account owner sets up (SAS, RBAC, CORS) and the ``check`` diagnostics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.storage.blob import BlobServiceClient, CorsRule

from orchestration_pkg.core.access import P_URL as P_URL
from orchestration_pkg.core.access import AccessCheckMixin
from orchestration_pkg.core.errors import StorageError
from orchestration_pkg.core.providers.azure.config import (
    AzureIntegrationConfig,
    AzureServicePrincipalAuth,
)
from orchestration_pkg.core.providers.azure.errors import call_azure
from orchestration_pkg.core.providers.azure.sas import (
    REGENERATE,
    SAS_WARN_BEFORE,
    SasInfo,
    format_time,
    utcnow,
)
from orchestration_pkg.core.storage import AccessCheck

CORS_EXPOSED_HEADERS = ["Content-Length", "Content-Range", "Accept-Ranges", "ETag"]
READ_ROLE = "Storage Blob Data Reader"
DELEGATOR_ROLE = "Storage Blob Delegator"
ARM_ACCOUNT_SCOPE = (
    "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/{account}"
)

# Permission names of the rows ``check`` returns (and ``P_URL``, from ``core.access``).
P_SAS = "SAS token"
P_SAS_PERMS = "SAS permissions"
P_SAS_SCOPE = "SAS least privilege"
P_LIST = "List Blobs"
P_HEAD = "Get Blob Properties"
P_GET = "Get Blob (ranged)"
P_SIGN = "sign"
P_CORS = "CORS"


def setup_guide_for(
    account: str,
    container: str,
    origins: list[str],
    max_age: int = 3600,
    principal: str | None = None,
) -> dict[str, Any]:
    """Least-privilege SAS fields, RBAC role assignments and the Blob service CORS rule.

    ``principal``: object id of the service principal the roles are assigned to.
    """
    assignee = principal or "<SERVICE_PRINCIPAL_OBJECT_ID>"
    if not origins:
        raise ValueError("give at least one allowed origin")
    account_scope = ARM_ACCOUNT_SCOPE.format(account=account)
    return {
        "sas": {
            "services": "b",
            "resource_types": "co",
            "permissions": "rl",
            "notes": (
                "Account SAS: Allowed services Blob, Allowed resource types Container + Object, "
                "Permissions Read + List (or a container SAS, sr=c, with Read + List). Nothing "
                "more is needed: files are read in place, never written. Before the expiry, "
                "generate a new token and update sas_token: registered files stay valid, the "
                "catalog stores canonical URLs only."
            ),
        },
        "rbac": [
            {
                "role": READ_ROLE,
                "assignee": assignee,
                "scope": f"{account_scope}/blobServices/default/containers/{container}",
            },
            {
                "role": DELEGATOR_ROLE,
                "assignee": assignee,
                "scope": account_scope,
                "why": "to sign URLs with a user delegation key",
            },
        ],
        "cors": [
            {
                "allowedOrigins": list(origins),
                "allowedMethods": ["GET", "HEAD"],
                "allowedHeaders": ["*"],
                "exposedHeaders": list(CORS_EXPOSED_HEADERS),
                "maxAgeInSeconds": int(max_age),
            }
        ],
    }


def _cors_allows(rules: list[CorsRule], origin: str) -> bool:
    for rule in rules:
        origins = {o.strip() for o in str(rule.allowed_origins).split(",")}
        methods = {m.strip().upper() for m in str(rule.allowed_methods).split(",")}
        if (origin in origins or "*" in origins) and {"GET", "HEAD"} <= methods:
            return True
    return False


class AzureAccess(AccessCheckMixin):
    """Setup guide and ``check`` of ``AzureStorage`` (SAS, RBAC, CORS and probe fixes)."""

    _head_permission = P_HEAD
    _get_permission = P_GET
    _sign_permission = P_SIGN
    _object_noun = "blob"
    _upload_fix = "upload a blob, or pass a blob name or URL to check"

    config: AzureIntegrationConfig
    container: str
    account_url: str
    account_name: str
    sas: SasInfo | None
    sas_expiry: Any
    _sas_token: str | None

    if TYPE_CHECKING:

        @property
        def service(self) -> BlobServiceClient: ...

        def sign(self, key: str, ttl_seconds: int = 3600) -> str: ...

        def _account_key(self) -> tuple[str, str] | None: ...

        def _probe_list(self, first: list[str]) -> str: ...

    def setup_guide(
        self, origins: list[str], max_age: int = 3600, *, principal: str | None = None
    ) -> dict[str, Any]:
        """SAS fields, RBAC role assignments and CORS rule for this account and container."""
        return setup_guide_for(self.account_name, self.container, origins, max_age, principal)

    def check_cors(self, origins: list[str]) -> AccessCheck:
        """Read the Blob service CORS rules (needs account-level rights) and compare."""
        try:
            props = call_azure(
                self.service.get_service_properties,
                "GetBlobServiceProperties",
                self.account_url,
                endpoint=self.account_url,
            )
        except StorageError as err:
            fix = (
                "cannot read CORS rules with this credential; in the portal, Resource sharing "
                f"(CORS) → Blob service: add CORS rule for origin {', '.join(origins)} "
                "(GET, HEAD; exposed headers Content-Length, Content-Range, Accept-Ranges, ETag)"
            )
            return AccessCheck(P_CORS, False, str(err), fix)
        rules = list(props.get("cors") or [])
        missing = [o for o in origins if not _cors_allows(rules, o)]
        if missing:
            fix = (
                f"add CORS rule for origin {', '.join(missing)}: allowed methods GET, HEAD; "
                "allowed headers *; exposed headers Content-Length, Content-Range, "
                "Accept-Ranges, ETag (see setup_guide)"
            )
            return AccessCheck(P_CORS, False, f"no CORS rule allows GET from {missing[0]}", fix)
        return AccessCheck(P_CORS, True, f"CORS allows GET, HEAD from {', '.join(origins)}")

    def check(self, url_or_key: str | None = None) -> list[AccessCheck]:
        """Probe the SAS token (locally), List Blobs, Get Blob Properties, a ranged Get Blob
        and signing, each with the Azure error code and a concrete fix."""
        rows = self._sas_rows()
        if rows and not rows[0].ok:
            reason = "not tried: the SAS token is unusable"
            return rows + [AccessCheck(p, False, reason) for p in (P_LIST, P_HEAD, P_GET, P_SIGN)]
        first: list[str] = []
        rows.append(self._probe(P_LIST, lambda: self._probe_list(first)))
        key = self._check_key(url_or_key, first, rows)
        rows += self._object_rows(key, rows)
        rows.append(self._sign_row(key))
        return rows

    def _sas_rows(self) -> list[AccessCheck]:
        if self.sas is None:
            return []
        error = self.sas.usable_error()
        if error is not None:
            fix = "generate a new SAS (Allowed services Blob, resource types Container + Object, "
            fix += "permissions Read + List) and update sas_token"
            return [AccessCheck(P_SAS, False, str(error), fix)]
        rows = [self._expiry_row()]
        problems = self.sas.problems()
        if problems:
            fix = (
                f"{REGENERATE} (sp=rl), Allowed services Blob (ss=b) and resource types "
                "Container + Object (srt=co), then update sas_token"
            )
            rows.append(AccessCheck(P_SAS_PERMS, False, "; ".join(p.text for p in problems), fix))
        else:
            rows.append(AccessCheck(P_SAS_PERMS, True, f"grants {self.sas.permissions or '?'}"))
        extra = self.sas.extra_permissions()
        if extra:
            detail = f"warning: the SAS grants more than Read+List: {', '.join(extra)}"
            fix = "a read-only SAS (sp=rl) is enough: regenerate it with Read and List only"
            rows.append(AccessCheck(P_SAS_SCOPE, True, detail, fix))
        return rows

    def _expiry_row(self) -> AccessCheck:
        expiry = self.sas_expiry
        if expiry is None:
            return AccessCheck(P_SAS, True, "expiry set by a stored access policy (si=)")
        left = expiry - utcnow()
        detail = f"expires {format_time(expiry)} (in {left.days} days)"
        if left <= SAS_WARN_BEFORE:
            fix = "generate a new SAS with Read+List before then and update sas_token"
            return AccessCheck(P_SAS, True, f"warning: {detail}", fix)
        return AccessCheck(P_SAS, True, detail)

    def _probe_sign(self, key: str) -> str:
        self.sign(key)
        if self._sas_token is not None:
            return "URL carries the configured SAS (its expiry is the URL's), not fetched"
        if self._account_key() is not None:
            return "service SAS signed locally with the account key, not fetched"
        return "user delegation SAS signed (delegation key fetched), not fetched"

    def fix_for(self, permission: str, err: StorageError) -> str:
        """A concrete next step for a failed probe."""
        provider = getattr(err, "provider_code", err.code)
        if err.code in ("AccessDenied", "Auth"):
            return f"{provider}: {self._grant_for(permission, provider, err.code)}"
        if provider == "ContainerNotFound" or (err.code == "NotFound" and permission == P_LIST):
            return (
                f"ContainerNotFound: container '{self.container}' does not exist in account "
                f"'{self.account_name}'; check container and account_url"
            )
        if err.code == "NotFound":
            return (
                f"{provider}: no blob with this name; check the name (case-sensitive) and that "
                f"it lies under '{self.prefix}'"
            )
        return _GENERIC_FIXES.get(err.code, f"{provider}: see detail")

    def _grant_for(self, permission: str, provider: str, code: str) -> str:
        auth = self.config.auth
        if self._sas_token is not None:
            return self._sas_fix(provider)
        if isinstance(auth, AzureServicePrincipalAuth):
            if code == "Auth":
                return (
                    "check tenant_id, client_id and client_secret (the secret may have expired "
                    "in the app registration)"
                )
            guide = self.setup_guide(["*"])["rbac"]
            if permission == P_SIGN:
                return (
                    f"assign the {DELEGATOR_ROLE} role to the service principal on the "
                    f"storage account (scope {guide[1]['scope']})"
                )
            return (
                f"assign the {READ_ROLE} role to the service principal on the container "
                f"(scope {guide[0]['scope']}); role assignments take up to 10 minutes to apply"
            )
        if provider == "KeyBasedAuthenticationNotPermitted":
            return "shared key access is disabled on the account: use a service principal"
        if provider == "AuthorizationFailure":
            return (
                "the account firewall may block this machine (Networking → Firewalls and "
                "virtual networks), or the key is wrong"
            )
        return "check the account key (Access keys blade; it may have been rotated)"

    def _sas_fix(self, provider: str) -> str:
        if provider == "AuthorizationPermissionMismatch":
            return f"the SAS lacks a permission: {REGENERATE} (sp=rl)"
        if provider == "AuthorizationResourceTypeMismatch":
            return "the SAS lacks a resource type: regenerate it with Container + Object (srt=co)"
        if provider == "AuthorizationServiceMismatch":
            return "the SAS is not for the Blob service: regenerate it with Allowed services Blob"
        if provider == "AuthorizationSourceIPMismatch":
            return "the SAS is limited to other IP addresses (sip=): regenerate it"
        return (
            "the SAS signature does not match (or the account firewall blocks this machine): "
            f"{REGENERATE} and update sas_token"
        )


_GENERIC_FIXES = {
    "Network": "endpoint unreachable: check account_url, DNS, proxy and firewall",
    "Throttled": "throttled by Azure: transient, retry later",
    "ServerError": "Azure server error: transient, retry later",
    "InvalidRange": "InvalidRange: the blob is shorter than the requested range",
    "Config": "fix the integration's auth settings",
}
