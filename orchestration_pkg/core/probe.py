"""What probing an object yields, and the cheapest probe: one HEAD.

Content probing (sniffing + per-kind metadata from ranged reads) is in ``core.media``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration_pkg.core.models import ObjectInfo
from orchestration_pkg.core.storage import Storage


@dataclass(frozen=True)
class ProbeResult:
    """What probing learnt: object facts, flat metadata (typed model dumped), and its cost."""

    info: ObjectInfo
    metadata: dict[str, Any]
    bytes_read: int
    requests: int


def head_object(storage: Storage, key: str) -> ProbeResult:
    """One HEAD: object facts only."""
    info = storage.head(key)
    return ProbeResult(info=info, metadata={}, bytes_read=0, requests=1)
