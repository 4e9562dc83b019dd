"""Tiny smoke runs of the sync and notification benchmarks (the real runs are not part of the
suite)."""

from __future__ import annotations

from tests.bench_run import smoke_stdout


def test_bench_sync_smoke_reports_ratio_and_rss():
    out = smoke_stdout("bench_sync.py")
    assert "re-sync, unchanged" in out and "the bare listing" in out
    assert "peak RSS" in out and "streamed diff" in out


def test_bench_notifications_smoke_counts_requests_and_meets_its_goal():
    out = smoke_stdout("bench_notifications.py")
    assert "notifications: 10 new objects registered" in out
    assert "10 S3 requests (list 0, GET 10, HEAD 0)" in out
    assert "baseline, polling" in out and "list 1" in out
    assert ": OK;" in out
