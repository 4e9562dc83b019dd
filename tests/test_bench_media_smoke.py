"""Tiny smoke run of the media benchmark (the full run is not part of the suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_media.py"


def test_bench_media_smoke_reports_every_kind():
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for label in ("jpeg", "png", "mp4 faststart", "mp4 moov-at-end", "wav", "pdf"):
        assert label in proc.stdout
    assert "× bare HEAD" in proc.stdout
