"""Tiny smoke runs of the export and gateway benchmarks (the real runs are not in the suite)."""

from __future__ import annotations

import re

from tests.bench_run import smoke_stdout


def test_bench_export_smoke_reports_baseline_ratio_goal_and_rss() -> None:
    out = smoke_stdout("bench_export.py")
    assert "export of 2000 rows, encord, signed S3 URLs" in out
    assert "ONE reused client" in out
    assert re.search(r"ratio export ÷ baseline: \d+\.\d+ +\(goal ≤ 1\.0: (PASS|FAIL)\)", out)
    assert "goal < 60 s is for 1,000,000 rows" in out
    assert re.search(r"peak RSS: import only \d+ MiB; export \d+ MiB", out)
    assert "GET check: one exported URL → HTTP 200 from moto" in out


def test_bench_gateway_smoke_reports_every_server_and_the_goal() -> None:
    out = smoke_stdout("bench_gateway.py")
    rows = {line.split("  ")[0].strip(): line for line in out.splitlines() if "×" in line}
    assert "bare ASGI 302" in rows and "gateway (sqlite)" in rows
    assert "gateway (postgresql)" in rows
    for name in ("gateway (sqlite)", "gateway (postgresql)"):
        assert re.search(r"(PASS|FAIL)\s+\{'302': \d+\}$", rows[name]), rows[name]
    assert "Goal: ≥ 0.5×" in out and "p99 ms" in out
    assert "following one redirect to moto → 200 b'the object'" in out
