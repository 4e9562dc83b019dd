"""Tiny smoke run of the benchmark (the real runs are not part of the suite)."""

from __future__ import annotations

from tests.bench_run import smoke_stdout


def test_bench_smoke_runs_and_reports_ratios():
    out = smoke_stdout("bench_register.py")
    assert "one HEAD per object" in out and "header probing" in out
    assert "peak RSS" in out and "bytes read per image: median" in out
