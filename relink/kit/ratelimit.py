"""Rate limits, in process: a token bucket (the API's keys) and a sliding window (hosted
links, password resets). Each server process counts on its own: with N processes the
effective limit is N times the one configured."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Take one token; return ``None`` if allowed, else seconds until one is available."""
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return (1 - bucket.tokens) / self.rate if self.rate > 0 else math.inf


@dataclass
class SlidingWindowThrottle:
    """At most ``limit`` hits per key within any ``window`` seconds.

    In-process and in memory: each server process counts on its own, so with N
    processes a client gets up to N times the limit. That is enough to blunt guessing
    and hammering of one link from one place; a shared store (Redis, the database)
    would be needed for a global limit. Keys idle for a window are dropped.
    """

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_sweep: float = 0.0

    def hit(self, key: str) -> bool:
        """Count a hit for ``key``; False when the key is over its limit (not counted)."""
        now = self.clock()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _sweep(self, now: float) -> None:
        for key in [
            k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window
        ]:
            del self._hits[key]
        self._next_sweep = now + self.window
