"""Quota checks of a job: images and video frames per job and per folder."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration_pkg.core.policy import Quotas


@dataclass
class QuotaGuard:
    """Counts what a job registers and says, with numbers, when a quota would be exceeded."""

    quotas: Quotas
    images: int = 0
    frames: int = 0

    def add(self, images: int, frames: int) -> str | None:
        """Count a batch; the breach message of a per-job quota, if any."""
        self.images += images
        self.frames += frames
        q = self.quotas
        return _breach("max_images_per_job", self.images, q.max_images_per_job, "images") or (
            _breach(
                "max_video_frames_per_job", self.frames, q.max_video_frames_per_job, "video frames"
            )
        )

    def check_folder(self, folder_images: int, folder_frames: int) -> str | None:
        """Per-folder quotas on the folder as it would be after the job."""
        q = self.quotas
        return _breach(
            "max_images_per_folder", folder_images, q.max_images_per_folder, "images"
        ) or _breach(
            "max_video_frames_per_folder",
            folder_frames,
            q.max_video_frames_per_folder,
            "video frames",
        )


def _breach(name: str, value: int, limit: int | None, what: str) -> str | None:
    if limit is None or value <= limit:
        return None
    return f"quota {name}={limit} exceeded by {value - limit} ({value} {what})"
