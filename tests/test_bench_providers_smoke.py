"""Tiny smoke run of the per-provider benchmark (S3, GCS and Azure emulators)."""

from __future__ import annotations

import os

import pytest

from tests.bench_run import run_bench

REQUIRE_ENV = "ORCHESTRATION_PKG_REQUIRE_EMULATORS"
EXIT_MISSING = 3  # the bench's exit status when an emulator is missing or did not start


def test_bench_providers_smoke_reports_every_provider_and_ratio() -> None:
    proc = run_bench("bench_providers.py")
    if proc.returncode == EXIT_MISSING and "emulator missing" in proc.stderr:
        reason = proc.stderr.strip().splitlines()[-1]
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"emulators are required ({REQUIRE_ENV}=1): {reason}", pytrace=False)
        pytest.skip(reason)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    out = proc.stdout
    for header in ("baseline HEAD/s", "register(auto)/s", "register(head)/s", "ratio"):
        assert header in out
    for header in ("ours URLs/s", "sdk URLs/s", "verdict", "naive URLs/s"):
        assert header in out
    assert "the SDK's own signing call on ONE reused client" in out
    rows = [line.split() for line in out.splitlines() if line.split()]
    for provider in ("s3", "gcs", "azure"):
        # one row in each table: the registration ratios and the signing speed-up
        assert sum(1 for cells in rows if cells[0] == provider) == 2, provider
    assert "measured on 20 URLs and extrapolated to 300" in out
