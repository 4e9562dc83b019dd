"""SAS tokens, read locally: expiry, start, permissions, services and resource types.

Nothing here makes a request, and the signature (``sig=``) is never kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

from orchestration_pkg.core.errors import StorageError

SAS_WARN_BEFORE = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=5)
_SAS_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$"
)

SAS_PERMISSION_NAMES = {
    "r": "Read",
    "a": "Add",
    "c": "Create",
    "w": "Write",
    "d": "Delete",
    "x": "Delete version",
    "y": "Permanent delete",
    "l": "List",
    "t": "Tags",
    "f": "Filter",
    "m": "Move",
    "e": "Execute",
    "o": "Ownership",
    "p": "Permissions",
    "i": "Set immutability policy",
    "u": "Update",
}
REGENERATE = "regenerate the SAS with Read and List"


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(timezone.utc)


def format_time(when: datetime) -> str:
    """``2026-01-02T03:04:05Z``."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SasProblem:
    """Something wrong with a SAS token, and which operations it breaks (list / read)."""

    text: str
    breaks: frozenset[str]


@dataclass(frozen=True)
class SasInfo:
    """The fields of a SAS token that decide whether it can work (the signature excluded)."""

    expiry: datetime | None = None
    start: datetime | None = None
    permissions: str | None = None
    services: str | None = None
    resource_types: str | None = None
    resource: str | None = None
    policy_id: str | None = None
    signed: bool = False
    unreadable: tuple[str, ...] = field(default_factory=tuple)

    def usable_error(self, now: datetime | None = None) -> StorageError | None:
        """The error that makes any request pointless (malformed, expired, not yet valid)."""
        now = now or utcnow()
        if not self.signed:
            return StorageError(
                "SAS token has no signature (sig=): paste the whole token, e.g. 'sv=...&sig=...'",
                code="SasInvalid",
            )
        if self.unreadable:
            names = ", ".join(f"{n}=" for n in self.unreadable)
            return StorageError(
                f"SAS token has an unreadable {names} value; generate a new one with Read+List "
                "and update sas_token",
                code="SasInvalid",
            )
        if self.expiry is None and not self.policy_id:
            return StorageError(
                "SAS token has no expiry (se=); generate a new one with Read+List "
                "and update sas_token",
                code="SasInvalid",
            )
        if self.expiry is not None and self.expiry <= now:
            return StorageError(
                f"SAS token expired on {format_time(self.expiry)}; generate a new one with "
                "Read+List and update sas_token",
                code="SasExpired",
            )
        if self.start is not None and self.start > now + CLOCK_SKEW:
            return StorageError(
                f"SAS token is not valid before {format_time(self.start)}; wait, or generate "
                "a new one with an earlier start time and update sas_token",
                code="SasNotYetValid",
            )
        return None

    def problems(self) -> list[SasProblem]:
        """Missing services, resource types or permissions (the service would answer 403)."""
        found: list[SasProblem] = []
        if self.services is not None and "b" not in self.services:
            found.append(
                SasProblem(
                    f"SAS token is not valid for the Blob service (ss={self.services}); "
                    "regenerate with Allowed services: Blob",
                    frozenset({"list", "read"}),
                )
            )
        if self.resource_types is not None:
            found += _resource_type_problems(self.resource_types)
        if self.resource is not None and self.resource not in ("c", "d"):
            found.append(
                SasProblem(
                    f"SAS token is for a single blob (sr={self.resource}); use an account SAS "
                    "or a container SAS (sr=c) with Read+List",
                    frozenset({"list", "read"}),
                )
            )
        if self.permissions is not None or not self.policy_id:
            found += _permission_problems(self.permissions or "")
        return found

    def extra_permissions(self) -> list[str]:
        """Permissions beyond Read+List, e.g. ``["Write (w)", "Delete (d)"]``."""
        extra = [p for p in dict.fromkeys(self.permissions or "") if p not in "rl"]
        return [f"{SAS_PERMISSION_NAMES.get(p, 'unknown')} ({p})" for p in extra]


def _resource_type_problems(srt: str) -> list[SasProblem]:
    found = []
    if "c" not in srt:
        found.append(
            SasProblem(
                "SAS token lacks resource type Container (c): listing and the sensor will fail; "
                "regenerate with Allowed resource types: Container + Object",
                frozenset({"list"}),
            )
        )
    if "o" not in srt:
        found.append(
            SasProblem(
                "SAS token lacks resource type Object (o): reading files will fail; "
                "regenerate with Allowed resource types: Container + Object",
                frozenset({"read"}),
            )
        )
    return found


def _permission_problems(sp: str) -> list[SasProblem]:
    found = []
    if "r" not in sp:
        found.append(
            SasProblem(
                "SAS token lacks Read (r): reading files will fail; regenerate with Read+List",
                frozenset({"read"}),
            )
        )
    if "l" not in sp:
        found.append(
            SasProblem(
                "SAS token lacks List (l): listing and the sensor will fail; "
                "regenerate with Read+List",
                frozenset({"list"}),
            )
        )
    return found


def clean_sas_token(token: str) -> str:
    """The token without a leading '?' (or the query of a pasted SAS URL)."""
    token = token.strip()
    return token.split("?", 1)[1] if "?" in token else token


def parse_sas_time(text: str) -> datetime:
    """A SAS ``st=`` / ``se=`` value (ISO 8601 date or date-time, UTC if no zone)."""
    match = _SAS_TIME.match(text.strip())
    if not match:
        raise ValueError("not an ISO 8601 time")
    year, month, day, hour, minute, second, zone = match.groups()
    tz = timezone.utc
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    when = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        tzinfo=tz,
    )
    return when.astimezone(timezone.utc)


def parse_sas(token: str) -> SasInfo:
    """Read the fields of a SAS token (no request is made; the signature is not kept)."""
    fields = {k: v[0] for k, v in parse_qs(clean_sas_token(token), keep_blank_values=True).items()}
    times: dict[str, datetime | None] = {"se": None, "st": None}
    unreadable = []
    for name in times:
        if fields.get(name):
            try:
                times[name] = parse_sas_time(fields[name])
            except ValueError:
                unreadable.append(name)
    return SasInfo(
        expiry=times["se"],
        start=times["st"],
        permissions=fields.get("sp"),
        services=fields.get("ss"),
        resource_types=fields.get("srt"),
        resource=fields.get("sr"),
        policy_id=fields.get("si"),
        signed=bool(fields.get("sig")),
        unreadable=tuple(unreadable),
    )
