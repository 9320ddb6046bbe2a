"""Rate limits (BRIEF §7): public endpoints per client address, authenticated API calls per token or person.

A token bucket per key, kept in the memory of each server process. `kpcs serve` runs several worker processes
and tells them how many (KPCS_WORKERS), so each process allows its share of the configured rate: a client's
requests are spread over the workers, so together they allow about the configured rate. Limits are set in
requests per minute by KPCS_RATE_PUBLIC and KPCS_RATE_TOKEN (0 turns a limit off).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, JsonResponse

F = TypeVar("F", bound=Callable[..., Any])
MAX_KEYS = 100_000  # beyond this, buckets that have refilled are forgotten


class RateLimited(Exception):
    """Too many requests from one client: answered 429 with Retry-After (seconds)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests: try again in {retry_after} s")
        self.retry_after = retry_after


class Limiter:
    """Token buckets: `per_minute` sustained, bursts up to `burst` requests."""

    def __init__(self, per_minute: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                raise RateLimited(max(1, math.ceil((1 - tokens) / self.rate)))
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > MAX_KEYS:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > MAX_KEYS:  # a flood of distinct keys: start afresh rather than grow
            self._buckets.clear()


_limiters: dict[tuple[str, int, int], Limiter] = {}


def _limiter(kind: str) -> Limiter | None:
    per_minute = int(getattr(settings, f"KPCS_RATE_{kind.upper()}"))
    if per_minute <= 0:
        return None
    workers = max(1, int(os.environ.get("KPCS_WORKERS", "1")))
    key = (kind, per_minute, workers)
    limiter = _limiters.get(key)
    if limiter is None:
        share = per_minute / workers
        # A burst of 10 seconds' worth (at least 5 requests) absorbs a page load or a scanner's retry.
        limiter = _limiters[key] = Limiter(share, max(5.0, share / 6))
    return limiter


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or behind KPCS_PROXY_HOPS trusted proxies the address the nearest of
    them saw (taken from the right of X-Forwarded-For, so a client cannot choose it)."""
    hops = int(settings.KPCS_PROXY_HOPS)
    if hops > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))


def check_public(request: HttpRequest) -> None:
    limiter = _limiter("public")
    if limiter is not None:
        limiter.hit("a:" + client_address(request))


def check_caller(key: str) -> None:
    """One authenticated caller: a token (by its hash) or a signed-in person (by id)."""
    limiter = _limiter("token")
    if limiter is not None:
        limiter.hit(key)


def too_many(exc: RateLimited) -> JsonResponse:
    """The API's error format, with Retry-After."""
    response = JsonResponse({"error": {"code": "too_many_requests", "message": str(exc),
                                       "details": {"retry_after": exc.retry_after}}}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def public(run: F) -> F:
    """Limit a public API operation per client address: `@decorate_view(ratelimit.public)` under the route."""

    @wraps(run)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            check_public(request)
        except RateLimited as exc:
            return too_many(exc)
        return run(request, *args, **kwargs)

    return limited  # type: ignore[return-value]
