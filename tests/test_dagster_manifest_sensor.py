"""The manifest sensor: where it says it looks (the full path), what a tick does while
storage is down (one line with the cause, then exponential back-off held in the cursor), and a
manifest into a watched folder as one batch partition of its asset."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, SkipReason, build_sensor_context

from orchestration_pkg.assets.naming import DefinitionNames
from orchestration_pkg.assets.reporting import manifest_partition
from orchestration_pkg.definitions import build_definitions
from orchestration_pkg.resources.platform import PlatformResource
from orchestration_pkg.sensors.manifest_sensor import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    ManifestCursor,
    backoff_seconds,
)
from tests.media import image_bytes

CLI = str(Path(sys.executable).parent / "orchestration-pkg")


def _config(tmp_path, bucket, endpoint: str) -> Path:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'catalog.db'}\n"
        "integrations:\n"
        f"  - {{name: acme, provider: s3, bucket: {bucket.name}, prefix: data/,"
        f" region: us-east-1, endpoint_url: '{endpoint}',"
        " auth: {method: access_key, access_key_id: testing, secret_access_key: testing},"
        " retry: {max_attempts: 1}, manifests: {prefix: incoming/}}\n",
        encoding="utf-8",
    )
    return config


def _tick(defs, platform, cursor):
    sensor = defs.resolve_sensor_def("manifest_sensor_acme")
    with (
        DagsterInstance.ephemeral() as instance,
        build_sensor_context(
            instance=instance, cursor=cursor, resources={"platform": platform}
        ) as ctx,
    ):
        result = sensor(ctx)
    if isinstance(result, SkipReason):  # a bare skip keeps the cursor as it was
        return [], result.skip_message, cursor
    skip = result.skip_reason.skip_message if result.skip_reason else None
    return result.run_requests or [], skip, result.cursor if result.cursor else cursor


def test_description_and_integrations_list_show_the_full_manifest_path(tmp_path, s3_bucket):
    config = _config(tmp_path, s3_bucket, s3_bucket.endpoint)
    full = f"s3://{s3_bucket.name}/data/incoming/"
    sensor = build_definitions(config).resolve_sensor_def("manifest_sensor_acme")
    assert f"under {full} " in sensor.description
    proc = subprocess.run(
        [CLI, "--config", str(config), "integrations", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (row,) = json.loads(proc.stdout)
    assert row["manifests_location"] == full and row["manifests_prefix"] == "incoming/"
    human = subprocess.run(
        [CLI, "--config", str(config), "integrations", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )
    assert full in human.stdout


def test_backoff_doubles_and_is_capped():
    waits = [backoff_seconds(n) for n in range(1, 10)]
    assert waits[:3] == [BACKOFF_BASE_SECONDS, 2 * BACKOFF_BASE_SECONDS, 4 * BACKOFF_BASE_SECONDS]
    assert max(waits) == BACKOFF_MAX_SECONDS and waits == sorted(waits)


def test_storage_down_is_one_line_then_backoff_then_recovery(
    tmp_path, s3_bucket, fault_proxy, capfd
):
    proxy = fault_proxy(s3_bucket.endpoint)
    s3_bucket.put("data/incoming/a.json", json.dumps([{"url": "s3://x/data/a.png"}]))
    config = _config(tmp_path, s3_bucket, proxy.url)
    defs = build_definitions(config)
    platform = PlatformResource(config_path=str(config))
    proxy.fault = lambda method, path: "reset"  # storage down: every connection dropped

    requests, reason, cursor = _tick(defs, platform, None)
    assert requests == [] and "\n" not in reason and "Traceback" not in reason
    assert reason.startswith("cannot list manifests: ") and "ListObjectsV2" in reason
    assert "Network" in reason and "data/incoming/" in reason
    held = ManifestCursor.load(cursor)
    assert held.failures == 1
    assert held.retry_at == pytest.approx(time.time() + BACKOFF_BASE_SECONDS, abs=10)
    logged = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(logged) == 1 and "cannot list manifests: " in logged[0]  # one line, no traceback

    # before the next attempt's time: skipped without a single storage request
    calls = proxy.count()
    requests, reason, same = _tick(defs, platform, cursor)
    assert requests == [] and "backing off until" in reason and "\n" not in reason
    assert proxy.count() == calls and same == cursor

    # time has come (retry_at in the past): tried again, still down → the wait doubles
    due = json.loads(cursor) | {"retry_at": time.time() - 1}
    requests, reason, cursor = _tick(defs, platform, json.dumps(due))
    assert proxy.count() > calls and reason.startswith("cannot list manifests: ")
    again = ManifestCursor.load(cursor)
    assert again.failures == 2
    assert again.retry_at == pytest.approx(time.time() + 2 * BACKOFF_BASE_SECONDS, abs=10)

    # storage back: the due tick requests the manifest and clears the back-off
    proxy.reset()
    due = json.loads(cursor) | {"retry_at": time.time() - 1}
    requests, _, cursor = _tick(defs, platform, json.dumps(due))
    assert [r.tags["orchestration_pkg/manifest"] for r in requests] == ["data/incoming/a.json"]
    assert requests[0].tags["orchestration_pkg/integration"] == "acme"  # the run queue limit
    recovered = ManifestCursor.load(cursor)
    assert (recovered.failures, recovered.retry_at) == (0, 0.0)
    assert "failures" not in cursor


def test_a_manifest_into_a_watched_folder_is_one_batch_partition_of_its_asset(tmp_path, s3_bucket):
    """Under key prefix ``media``: the sensor adds ``mf-<hash>`` to the folder asset's
    partitions, and the run reports the materialization and the check on that partition."""
    for i in range(2):
        s3_bucket.put(f"data/raw/m{i}.png", image_bytes(5, 4 + i, "PNG"), "image/png")
    items = [{"url": f"s3://{s3_bucket.name}/data/raw/m{i}.png"} for i in range(2)]
    s3_bucket.put("data/incoming/batch.json", json.dumps(items))
    config = _config(tmp_path, s3_bucket, s3_bucket.endpoint)
    text = config.read_text(encoding="utf-8").replace(
        "manifests: {prefix: incoming/}",
        "manifests: {prefix: incoming/, folder: lake}, watch: {folder: lake, prefix: raw/}",
    )
    config.write_text(text, encoding="utf-8")
    names, lake = DefinitionNames("media"), AssetKey(["media", "folder", "lake"])
    defs = build_definitions(config, key_prefix="media")
    platform = defs.resources[names.resource_key]
    etag = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="data/incoming/batch.json")
    partition = manifest_partition("data/incoming/batch.json", etag["ETag"].strip('"'))
    with DagsterInstance.ephemeral() as instance:
        sensor = defs.resolve_sensor_def(names.manifest_sensor("acme"))
        with build_sensor_context(
            instance=instance, resources={names.resource_key: platform}
        ) as ctx:
            result = sensor(ctx)
        (request,) = result.run_requests
        (added,) = result.dynamic_partitions_requests
        assert (added.partitions_def_name, list(added.partition_keys)) == (
            names.batches("acme"),
            [partition],
        )
        assert request.run_config["ops"][names.register_op]["config"]["partition"] == partition
        instance.add_dynamic_partitions(added.partitions_def_name, list(added.partition_keys))
        run = defs.resolve_job_def(names.register_job).execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )
        (mat,) = run.get_asset_materialization_events()
        assert (mat.asset_key, mat.materialization.partition) == (lake, partition)
        assert mat.materialization.metadata["registered"].value == 2
        (check,) = run.get_asset_check_evaluations()
        assert (check.asset_key, check.partition, check.passed) == (lake, partition, True)
        assert instance.get_dynamic_partitions(names.batches("acme")) == [partition]
        latest = instance.get_latest_materialization_event(lake)
        assert latest.asset_materialization.partition == partition  # on the asset's page
