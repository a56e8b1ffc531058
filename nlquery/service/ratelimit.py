"""Fixed-window rate limits per token and resource, in process or in Redis.

Resources (the spec's buckets): ``data_sources:queries`` for ``/query`` and ``/ask``
(100/min by default) and ``api:global`` for every call (1,000/min); ``auth:failures``
counts failed authentications per client address. The Redis
backend lets several replicas share the same counters.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

WINDOW_S = 60
log = logging.getLogger("nlquery.service")


@dataclass(frozen=True)
class Verdict:
    resource: str
    limit: int
    remaining: int
    reset: int  # unix time when the window ends
    allowed: bool

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(time.time()))

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset), "X-RateLimit-Resource": self.resource}


class Counter(Protocol):
    blocking: bool  # True when a call waits on the network (run it off the event loop)

    def hit(self, key: str, window_end: int) -> int: ...

    def peek(self, key: str, window_end: int) -> int: ...


class MemoryCounter:
    """Counters in this process (one replica)."""

    blocking = False

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window_end: int) -> int:
        with self._lock:
            end, count = self._counts.get(key, (window_end, 0))
            if end != window_end:
                count = 0
            self._counts[key] = (window_end, count + 1)
            if len(self._counts) > 100_000:  # forget finished windows
                now = int(time.time())
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            return count + 1

    def peek(self, key: str, window_end: int) -> int:
        with self._lock:
            end, count = self._counts.get(key, (window_end, 0))
            return count if end == window_end else 0


class RedisCounter:
    """Counters in Redis (shared by every replica): INCR + EXPIRE in one round trip.

    Redis down or slow (0.5 s per call at most) fails open to this process's own
    counters (:class:`MemoryCounter`), with a logged warning: limits keep holding per
    replica instead of every request failing. Redis is tried again after
    ``RETRY_S`` seconds; its counters resume once it answers."""

    blocking = True
    RETRY_S = 2.0

    def __init__(self, url: str) -> None:
        import redis

        self._errors = redis.RedisError
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._fallback = MemoryCounter()
        self._down_until = 0.0

    def _call(self, fn: Any, fallback: Any) -> int:
        if time.monotonic() < self._down_until:
            return fallback()
        try:
            return fn()
        except self._errors as exc:
            if self._down_until == 0.0 or time.monotonic() - self._down_until > 60:
                log.warning(json.dumps({"event": "rate_limit_redis_unavailable", "fallback": "per-process counters",
                                        "reason": str(exc)[:200]}))
            self._down_until = time.monotonic() + self.RETRY_S
            return fallback()

    def hit(self, key: str, window_end: int) -> int:
        def remote() -> int:
            pipe = self._redis.pipeline()
            pipe.incr(f"nlquery:rl:{key}:{window_end}")
            pipe.expireat(f"nlquery:rl:{key}:{window_end}", window_end + 5)
            count, _ = pipe.execute()
            return int(count)

        return self._call(remote, lambda: self._fallback.hit(key, window_end))

    def peek(self, key: str, window_end: int) -> int:
        return self._call(lambda: int(self._redis.get(f"nlquery:rl:{key}:{window_end}") or 0),
                          lambda: self._fallback.peek(key, window_end))


def window_end(now: float | None = None) -> int:
    return (int(time.time() if now is None else now) // WINDOW_S + 1) * WINDOW_S


class RateLimiter:
    def __init__(self, limits: dict[str, int], counter: Any | None = None) -> None:
        self.limits = limits
        self.counter = counter or MemoryCounter()

    def check(self, subject: str, resource: str) -> Verdict:
        limit = self.limits[resource]
        end = window_end()
        count = self.counter.hit(f"{subject}:{resource}", end)
        return Verdict(resource, limit, max(0, limit - count), end, count <= limit)


class AuthFailures:
    """Failed authentications per client address: after ``limit`` in a window, every
    request from that address that needs authentication is refused (429) until the window
    ends, without looking at its credentials (no oracle). Successes do not count."""

    resource = "auth:failures"

    def __init__(self, limit: int, counter: Any | None = None) -> None:
        self.limit = limit
        self.counter = counter or MemoryCounter()

    def blocked(self, address: str) -> Verdict | None:
        end = window_end()
        if self.counter.peek(f"{address}:{self.resource}", end) < self.limit:
            return None
        return Verdict(self.resource, self.limit, 0, end, False)

    def record(self, address: str) -> None:
        self.counter.hit(f"{address}:{self.resource}", window_end())
