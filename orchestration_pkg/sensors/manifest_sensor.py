"""A sensor per integration that starts a registration run when a new manifest lands.

Listing is paginated and capped per tick (sensor ticks time out after 60 s); the cursor keeps
where the listing stopped and the ETag of every manifest already requested, so a re-uploaded
manifest (new ETag) runs again and an unchanged one never does. Run keys (key + ETag) are a
second line of defence, not the only one.
"""

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

from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig, ManifestWatch
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.resources.platform import PlatformResource

MANIFEST_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")


@dataclass
class ManifestCursor:
    """Sensor progress: where the current listing pass stopped, and manifests already seen."""

    after: str = ""
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: str | None) -> "ManifestCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(after=data.get("after", ""), seen=dict(data.get("seen", {})))

    def dump(self) -> str:
        return json.dumps({"after": self.after, "seen": self.seen}, separators=(",", ":"))


def scan_manifests(
    storage: Storage, watch: ManifestWatch, cursor: ManifestCursor
) -> tuple[list[ObjectInfo], ManifestCursor]:
    """List up to ``watch.max_keys_per_tick`` objects after the cursor; return new manifests."""
    found: list[ObjectInfo] = []
    exhausted = True
    new = ManifestCursor(after=cursor.after, seen=dict(cursor.seen))
    listing = storage.list(prefix=watch.prefix, start_after=cursor.after)
    for listed, info in enumerate(listing, start=1):
        new.after = info.key
        if info.key.lower().endswith(MANIFEST_SUFFIXES) and info.size:
            tag = info.etag or str(info.last_modified)
            if new.seen.get(info.key) != tag:
                new.seen[info.key] = tag
                found.append(info)
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
                run_config={
                    "ops": {
                        "manifest": {
                            "config": {
                                "manifest": storage.canonical_url(info.key),
                                "folder": folder_for(watch, info.key),
                                "integration": integration.name,
                                "ignore_errors": watch.ignore_errors,
                            }
                        }
                    }
                },
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
