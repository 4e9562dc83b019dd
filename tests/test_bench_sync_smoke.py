"""Tiny smoke run of the sync benchmark (the real runs are not part of the suite)."""

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
