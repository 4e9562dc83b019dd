"""Tiny smoke run of the benchmark (the real runs are not part of the suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_register.py"


def test_bench_smoke_runs_and_reports_ratios():
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
    out = proc.stdout
    assert "one HEAD per object" in out and "header probing" in out
    assert "peak RSS" in out and "bytes read per image: median" in out
