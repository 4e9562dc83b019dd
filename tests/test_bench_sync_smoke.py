"""Tiny smoke runs of the sync and notification benchmarks (the real runs are not part of the
suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_sync.py"


def test_bench_sync_smoke_reports_ratio_and_rss():
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "re-sync, unchanged" in proc.stdout and "the bare listing" in proc.stdout
    assert "peak RSS" in proc.stdout and "streamed diff" in proc.stdout


def test_bench_notifications_smoke_counts_requests_and_meets_its_goal():
    bench = BENCH.parent / "bench_notifications.py"
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    proc = subprocess.run(
        [sys.executable, str(bench), "--smoke"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "notifications: 10 new objects registered" in proc.stdout
    assert "10 S3 requests (list 0, GET 10, HEAD 0)" in proc.stdout
    assert "baseline, polling" in proc.stdout and "list 1" in proc.stdout
    assert ": OK;" in proc.stdout
