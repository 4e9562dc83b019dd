"""Run one benchmark script with ``--smoke`` in a child process (the smoke tests' shared step)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(script: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python bench/<script> --smoke``, output captured, whatever its exit status."""
    return subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
        check=False,
    )


def smoke_stdout(script: str, timeout: float = 240) -> str:
    """The stdout of a smoke run that must exit 0 (else both streams' tails are shown)."""
    proc = run_bench(script, timeout)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    return proc.stdout
