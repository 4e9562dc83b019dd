"""Tiny smoke run of the media benchmark (the full run is not part of the suite)."""

from __future__ import annotations

from tests.bench_run import smoke_stdout


def test_bench_media_smoke_reports_every_kind():
    out = smoke_stdout("bench_media.py", timeout=300)
    for label in ("jpeg", "png", "mp4 faststart", "mp4 moov-at-end", "wav", "pdf"):
        assert label in out
    assert "× bare HEAD" in out
