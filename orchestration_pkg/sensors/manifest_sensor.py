"""A sensor per integration that starts a registration run when a new manifest lands.

Listing is paginated and capped per tick (sensor ticks time out after 60 s). The cursor stays
small whatever the bucket holds: where the listing stopped, plus a bounded list of short
digests of the (key, ETag) pairs most recently requested (:data:`SEEN_MAX`). Dedupe rests on
the run key (integration + key + ETag): Dagster never launches two runs with one run key, so a
manifest whose digest fell out of the list is at worst re-requested and skipped by Dagster,
while a re-uploaded manifest (new ETag) has a new run key and runs again.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration_pkg.assets.manifest_job import manifest_run_config
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig, ManifestWatch
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.resources.platform import PlatformResource

MANIFEST_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")
SEEN_MAX = 128  # digests kept in the cursor (16 hex chars each): ~2.5 KB at most


def seen_digest(key: str, tag: str) -> str:
    """Short digest of one (key, ETag) pair, as the cursor keeps it."""
    return hashlib.sha1(f"{key}\0{tag}".encode()).hexdigest()[:16]


@dataclass
class ManifestCursor:
    """Sensor progress: where the current listing pass stopped, and the digests of the
    manifests most recently requested (oldest first, at most :data:`SEEN_MAX`)."""

    after: str = ""
    seen: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, raw: str | None) -> "ManifestCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        seen = data.get("seen", [])
        if isinstance(seen, dict):  # cursor of an older version: key → ETag
            seen = [seen_digest(k, v) for k, v in seen.items()]
        return cls(after=data.get("after", ""), seen=list(seen)[-SEEN_MAX:])

    def dump(self) -> str:
        return json.dumps({"after": self.after, "seen": self.seen}, separators=(",", ":"))

    def remember(self, digest: str) -> None:
        """Add ``digest`` as the most recent one, dropping the oldest beyond SEEN_MAX."""
        if digest in self.seen:
            self.seen.remove(digest)
        self.seen.append(digest)
        del self.seen[:-SEEN_MAX]


def scan_manifests(
    storage: Storage, watch: ManifestWatch, cursor: ManifestCursor
) -> tuple[list[ObjectInfo], ManifestCursor]:
    """List up to ``watch.max_keys_per_tick`` objects after the cursor; return new manifests."""
    found: list[ObjectInfo] = []
    exhausted = True
    new = ManifestCursor(after=cursor.after, seen=list(cursor.seen))
    listing = storage.list(prefix=watch.prefix, start_after=cursor.after)
    for listed, info in enumerate(listing, start=1):
        new.after = info.key
        if info.key.lower().endswith(MANIFEST_SUFFIXES) and info.size:
            digest = seen_digest(info.key, info.etag or str(info.last_modified))
            if digest not in new.seen:
                found.append(info)
            new.remember(digest)
        if listed >= watch.max_keys_per_tick:
            exhausted = False
            break
    if exhausted:
        new.after = ""  # next tick starts a fresh pass and so sees re-uploaded manifests
    return found, new


def folder_for(watch: ManifestWatch, key: str) -> str:
    """Target folder: the configured one, else the manifest's file name without extension."""
    return watch.folder or PurePosixPath(key).stem


def build_manifest_sensor(integration: AnyIntegrationConfig, job_name: str) -> SensorDefinition:
    """The manifest sensor of one integration (requires ``manifests:`` in its config)."""
    watch = integration.manifests
    assert watch is not None

    @sensor(
        name=f"manifest_sensor_{integration.name.replace('-', '_').replace('.', '_')}",
        job_name=job_name,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"Registers manifests landing under {integration.location()}{watch.prefix} "
            f"(integration {integration.name})"
        ),
    )
    def _manifest_sensor(context: SensorEvaluationContext, platform: PlatformResource):
        storage = platform.storage(integration.name)
        found, cursor = scan_manifests(storage, watch, ManifestCursor.load(context.cursor))
        requests = [
            RunRequest(
                run_key=f"{integration.name}:{info.key}:{info.etag}",
                run_config=manifest_run_config(
                    storage.canonical_url(info.key),
                    folder_for(watch, info.key),
                    integration=integration.name,
                    ignore_errors=watch.ignore_errors,
                ),
                tags={
                    "orchestration_pkg/manifest": info.key,
                    "orchestration_pkg/integration": integration.name,
                },
            )
            for info in found
        ]
        if not requests:
            return SensorResult(skip_reason=SkipReason("no new manifests"), cursor=cursor.dump())
        return SensorResult(run_requests=requests, cursor=cursor.dump())

    return _manifest_sensor


def build_manifest_sensors(config: AppConfig, job_name: str) -> list[SensorDefinition]:
    return [build_manifest_sensor(i, job_name) for i in config.integrations if i.manifests]
