"""How watched objects are cut into batches (one Dagster partition, one run, one job each):
≤ 1000 files and ≤ 100 videos, the engine's own batch limits. Shared by the polling sensor and
the notification inbox, so both paths cut the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from orchestration_pkg.core.engine import RegistrationOptions
from orchestration_pkg.core.manifest import guess_media_kind
from orchestration_pkg.core.models import MediaKind

_LIMITS = RegistrationOptions()
MAX_FILES_PER_BATCH = _LIMITS.max_images_per_batch
MAX_VIDEOS_PER_BATCH = _LIMITS.max_videos_per_batch

T = TypeVar("T")


def is_video(key: str) -> bool:
    """Whether a key's extension says video (what the engine's video limit counts)."""
    return guess_media_kind(key) is MediaKind.VIDEO


def split_batches(
    items: Iterable[T], key: Callable[[T], str], max_files: int = MAX_FILES_PER_BATCH
) -> list[list[T]]:
    """``items`` in order → consecutive batches of ≤ ``max_files`` (≤ MAX_FILES_PER_BATCH)
    items and ≤ MAX_VIDEOS_PER_BATCH videos (by ``key``'s extension)."""
    max_files = min(max_files, MAX_FILES_PER_BATCH)
    batches: list[list[T]] = []
    batch: list[T] = []
    videos = 0
    for item in items:
        video = is_video(key(item))
        if batch and (len(batch) >= max_files or (video and videos >= MAX_VIDEOS_PER_BATCH)):
            batches.append(batch)
            batch, videos = [], 0
        batch.append(item)
        videos += video
    if batch:
        batches.append(batch)
    return batches


__all__ = ["MAX_FILES_PER_BATCH", "MAX_VIDEOS_PER_BATCH", "is_video", "split_batches"]
