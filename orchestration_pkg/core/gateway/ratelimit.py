"""A token bucket per credential (in this process), for the gateway's rate limit."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_BUCKETS = 10_000  # least recently used credentials are forgotten beyond this


class RateLimiter:
    """``take(name)``: None when a request may go, else the seconds until one may."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock or time.monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, name: str) -> float | None:
        now = self._clock()
        buckets = self._buckets
        with self._lock:
            tokens, last = buckets.get(name) or (self.burst, now)
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = None if tokens >= 1.0 else (1.0 - tokens) / self.rate
            buckets[name] = (tokens - 1.0 if wait is None else tokens, now)
            buckets.move_to_end(name)
            if len(buckets) > MAX_BUCKETS:
                buckets.popitem(last=False)
        return wait
