"""Run the installed ``orchestration-pkg`` entry point against a config file (tests' helper)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).parent / "orchestration-pkg")


def run_cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``orchestration-pkg --config CONFIG ARGS…`` with output captured (no instance metadata)."""
    return subprocess.run(
        [CLI, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
        timeout=timeout,
        check=False,
    )
