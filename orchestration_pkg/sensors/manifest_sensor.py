"""A sensor per integration that starts a registration run when a new manifest lands.

Listing is paginated and capped per tick (sensor ticks time out after 60 s). The cursor stays
small whatever the bucket holds: where the listing stopped, plus a bounded list of short
digests of the (key, ETag) pairs most recently requested (:data:`SEEN_MAX`). Dedupe rests on
the run key (integration + key + ETag): Dagster never launches two runs with one run key, so a
manifest whose digest fell out of the list is at worst re-requested and skipped by Dagster,
while a re-uploaded manifest (new ETag) has a new run key and runs again. A manifest whose
folder is a watched (batch-partitioned) folder asset is one batch: the sensor adds its
partition ``mf-<hash of key and ETag>`` and the run reports on it.

When storage is unreachable (or refuses), a tick logs one line with the cause and skips; the
cursor then holds the failure count and the time of the next attempt, which doubles per
failed attempt (:data:`BACKOFF_BASE_SECONDS` … :data:`BACKOFF_MAX_SECONDS`): ticks before it
skip without a storage call. The first successful listing clears the back-off.
"""

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration_pkg.assets.manifest_job import manifest_run_config
from orchestration_pkg.assets.naming import DEFAULT_NAMES, DefinitionNames
from orchestration_pkg.assets.reporting import PARTITION_OWN_TAG, manifest_partition
from orchestration_pkg.core.config import AnyIntegrationConfig, AppConfig, ManifestWatch
from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import Storage
from orchestration_pkg.resources.platform import PlatformResource

MANIFEST_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")
SEEN_MAX = 128  # digests kept in the cursor (16 hex chars each): ~2.5 KB at most
SENSOR_INTERVAL_SECONDS = 30
BACKOFF_BASE_SECONDS = 60.0  # first wait after a failed tick; doubles per failed attempt
BACKOFF_MAX_SECONDS = 3600.0


def seen_digest(key: str, tag: str) -> str:
    """Short digest of one (key, ETag) pair, as the cursor keeps it."""
    return hashlib.sha1(f"{key}\0{tag}".encode()).hexdigest()[:16]


@dataclass
class ManifestCursor:
    """Sensor progress: where the current listing pass stopped, and the digests of the
    manifests most recently requested (oldest first, at most :data:`SEEN_MAX`)."""

    after: str = ""
    seen: list[str] = field(default_factory=list)
    failures: int = 0  # failed ticks in a row (storage down)
    retry_at: float = 0.0  # epoch seconds: no storage call before this

    @classmethod
    def load(cls, raw: str | None) -> "ManifestCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        seen = data.get("seen", [])
        if isinstance(seen, dict):  # cursor of an older version: key → ETag
            seen = [seen_digest(k, v) for k, v in seen.items()]
        return cls(
            after=data.get("after", ""),
            seen=list(seen)[-SEEN_MAX:],
            failures=int(data.get("failures", 0)),
            retry_at=float(data.get("retry_at", 0.0)),
        )

    def dump(self) -> str:
        data: dict[str, object] = {"after": self.after, "seen": self.seen}
        if self.failures:
            data |= {"failures": self.failures, "retry_at": round(self.retry_at, 3)}
        return json.dumps(data, separators=(",", ":"))

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


def backoff_seconds(failures: int) -> float:
    """Wait after the ``failures``-th failed tick in a row: 60 s, 120 s, … capped at 1 h."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(failures - 1, 0), BACKOFF_MAX_SECONDS)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def failed_tick(cursor: ManifestCursor, error: Exception, now: float) -> tuple[str, ManifestCursor]:
    """One line naming the cause, and the cursor holding the next attempt's time."""
    failures = cursor.failures + 1
    wait = backoff_seconds(failures)
    held = ManifestCursor(cursor.after, list(cursor.seen), failures, now + wait)
    cause = " ".join(str(error).split()) or type(error).__name__
    line = (
        f"cannot list manifests: {cause}; next attempt in {wait:.0f}s at {_when(held.retry_at)} "
        f"({failures} failed tick(s) in a row)"
    )
    return line, held


def folder_for(watch: ManifestWatch, key: str) -> str:
    """Target folder: the configured one, else the manifest's file name without extension."""
    return watch.folder or PurePosixPath(key).stem


def build_manifest_sensor(
    integration: AnyIntegrationConfig,
    names: DefinitionNames = DEFAULT_NAMES,
    batches: dict[str, str] | None = None,
) -> SensorDefinition:
    """The manifest sensor of one integration (requires ``manifests:`` in its config);
    ``batches``: watched folder name → the dynamic partitions of its asset."""
    watch = integration.manifests
    assert watch is not None
    partitioned = batches or {}

    @sensor(
        name=names.manifest_sensor(integration.name),
        job_name=names.register_job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"Registers manifests landing under {integration.location()}{watch.prefix} "
            f"(integration {integration.name})"
        ),
        required_resource_keys={names.resource_key},
    )
    def _manifest_sensor(context: SensorEvaluationContext, **_resources: Any):
        platform: PlatformResource = names.platform(context)
        previous, now = ManifestCursor.load(context.cursor), time.time()
        if previous.retry_at > now:
            return SkipReason(
                f"cannot list manifests ({previous.failures} failed tick(s) in a row); backing off "
                f"until {_when(previous.retry_at)}"
            )
        try:
            storage = platform.storage(integration.name)
            found, cursor = scan_manifests(storage, watch, previous)
        except OrchestrationError as exc:  # our errors are one line; bugs keep their traceback
            line, held = failed_tick(previous, exc, time.time())
            context.log.warning(f"manifest_sensor {integration.name}: {line}")
            return SensorResult(skip_reason=SkipReason(line), cursor=held.dump())
        requests, added = [], {}
        for info in found:
            folder = folder_for(watch, info.key)
            extra, tags = {}, {}
            if folder in partitioned:  # one batch partition of the folder's asset
                extra["partition"] = manifest_partition(info.key, info.etag or "")
                added.setdefault(partitioned[folder], []).append(extra["partition"])
                tags[PARTITION_OWN_TAG] = extra["partition"]
            run_config = manifest_run_config(
                storage.canonical_url(info.key),
                folder,
                op_name=names.register_op,
                integration=integration.name,
                ignore_errors=watch.ignore_errors,
                **extra,
            )
            tags |= {
                "orchestration_pkg/manifest": info.key,
                "orchestration_pkg/integration": integration.name,
            }
            key = f"{integration.name}:{info.key}:{info.etag}"
            requests.append(RunRequest(run_key=key, run_config=run_config, tags=tags))
        if not requests:
            return SensorResult(skip_reason=SkipReason("no new manifests"), cursor=cursor.dump())
        return SensorResult(
            run_requests=requests,
            cursor=cursor.dump(),
            dynamic_partitions_requests=[
                AddDynamicPartitionsRequest(name, keys) for name, keys in added.items()
            ],
        )

    return _manifest_sensor


def build_manifest_sensors(
    config: AppConfig,
    names: DefinitionNames = DEFAULT_NAMES,
    batches: dict[str, str] | None = None,
) -> list[SensorDefinition]:
    """A manifest sensor per integration with ``manifests:`` (see :func:`build_manifest_sensor`)."""
    return [build_manifest_sensor(i, names, batches) for i in config.integrations if i.manifests]
