"""Rate limits per credential (else per client IP), counted in Django's cache (Redis when
``REDIS_URL`` is set, so every worker shares the counters), in one round trip per request
(access.ratelimit_counters).

Semantics (README "Rate limits"):

* sustained: ``METAQORE_RATE_LIMIT_PER_MINUTE`` (120) on average, enforced over fixed
  5-minute windows (5 x 120 = 600 requests per window);
* burst: at most ``METAQORE_RATE_LIMIT_BURST`` (240) requests in any fixed 1-minute window, so
  a client may spend a good part of its 5-minute budget at once, but not all of it;
* privileged clients get ``METAQORE_PRIVILEGED_RATE_LIMIT_PER_MINUTE`` (10 x 120) and 10 x the
  burst;
* brute force: logins and token requests are limited per IP
  (``METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE``, 10), and an IP that sent more than
  ``METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE`` (30) invalid credentials in a minute gets 429 for
  every further one. These per-IP limits use sliding windows (the previous minute's count,
  weighted by how much of it still overlaps the last 60 seconds, plus this minute's), so a
  burst at a window boundary cannot pass twice the limit. Per-account lockout: access.lockout.

The fixed windows end at a moment that depends on the identity (as django-ratelimit's do), so
the clients' windows do not all roll over at once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from access import ratelimit_counters as counters

logger = logging.getLogger(__name__)

SUSTAINED_WINDOW_MINUTES = 5
LOGIN_PATHS = ("/api/v1/auth/token", "/admin/login", "/dashboard/login")


@dataclass(frozen=True)
class Usage:
    limit: int
    remaining: int
    retry_after: int  # seconds until the exhausted window ends (0 when not limited)
    limited: bool


def client_ip(request) -> str:
    # Behind a proxy, configure it to set REMOTE_ADDR (e.g. uvicorn --proxy-headers).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _fixed_window(group: str, identity: str, limit: int, period: int, now: float):
    """The counter of ``identity``'s current window of ``period`` seconds, and when it ends."""
    ts = int(now)
    end = ts - ts % period + zlib.crc32(identity.encode()) % period
    if end < ts:
        end += period
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return counters.Fixed(f"mq:fw:{group}:{period}:{digest}:{end}", limit, period + 1), end


def _fixed_usage(limit: int, count: int, end: int, now: float) -> Usage:
    limited = count > limit
    return Usage(
        limit=limit,
        remaining=max(limit - count, 0),
        retry_after=max(end - int(now), 1) if limited else 0,
        limited=limited,
    )


def _combine(windows: list[Usage]) -> Usage:
    binding = min(windows, key=lambda w: w.remaining)
    limited = [w for w in windows if w.limited]
    return Usage(
        limit=binding.limit,
        remaining=binding.remaining,
        retry_after=max((w.retry_after for w in limited), default=0),
        limited=bool(limited),
    )


def sliding_usage(
    group: str, identity: str, limit: int, *, window: int = 60, increment: bool
) -> Usage:
    """A sliding-window counter (two fixed windows, the older one weighted by its overlap
    with the last ``window`` seconds); counts this request when ``increment``. Over the limit
    when more than ``limit`` requests fell in the last ``window`` seconds (estimated)."""
    now = time.time()
    counter = _sliding_window(group, identity, limit, window, now)
    current_key, previous_key = counter.current_key, counter.previous_key
    if increment:
        cache.add(current_key, 0, window * 2 + 1)
        try:
            current = cache.incr(current_key)
        except ValueError:  # expired between add and incr
            cache.add(current_key, 1, window * 2 + 1)
            current = 1
    else:
        current = cache.get(current_key, 0)
    previous = cache.get(previous_key, 0)
    return _sliding_usage(limit, window, now, previous, current)


def _sliding_window(group: str, identity: str, limit: int, window: int, now: float):
    index, elapsed = divmod(now, window)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return counters.Sliding(
        previous_key=f"mq:sw:{group}:{digest}:{int(index) - 1}",
        current_key=f"mq:sw:{group}:{digest}:{int(index)}",
        overlap=(window - elapsed) / window,
        limit=limit,
        ttl=window * 2 + 1,
    )


def _sliding_usage(limit: int, window: int, now: float, previous: int, current: int) -> Usage:
    elapsed = now % window
    overlap = (window - elapsed) / window
    estimate = previous * overlap + current
    limited = estimate > limit
    retry_after = 0
    if limited:
        if current <= limit and previous:
            # the previous window's weight must fall until the estimate is back at the limit
            wait = (window - elapsed) - (limit - current) * window / previous
        else:
            # this window alone is over: wait for it to end and to weigh little enough
            wait = (window - elapsed) + window * (1 - limit / max(current, 1))
        retry_after = max(1, math.ceil(wait))
    return Usage(
        limit=limit,
        remaining=max(limit - math.ceil(estimate), 0),
        retry_after=retry_after,
        limited=limited,
    )


def request_check(
    request, identity: str, privileged: bool, *, keyfail: int = counters.NONE
) -> tuple[Usage | None, str | None]:
    """Count this request against its identity's windows, in one round trip: (the usage for
    the X-RateLimit headers, the reason to refuse it with 429 or None); (None, None) when
    limits are off. ``keyfail``: ``counters.CHECK`` when a valid API key was sent (refused
    while its address is over the invalid-credential limit), ``counters.COUNT`` when an
    invalid credential was sent (it counts as one)."""
    if not settings.METAQORE_ENABLE_RATE_LIMIT:
        return None, None
    per_minute = settings.METAQORE_RATE_LIMIT_PER_MINUTE
    burst = settings.METAQORE_RATE_LIMIT_BURST
    if privileged:
        per_minute = settings.METAQORE_PRIVILEGED_RATE_LIMIT_PER_MINUTE
        burst *= 10
    now = time.time()
    ip = f"ip:{client_ip(request)}"
    burst_window, burst_end = _fixed_window("burst", identity, burst, 60, now)
    sustained_window, sustained_end = _fixed_window(
        "sustained",
        identity,
        per_minute * SUSTAINED_WINDOW_MINUTES,
        SUSTAINED_WINDOW_MINUTES * 60,
        now,
    )
    keyfail_limit = settings.METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE
    login_limit = settings.METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE
    is_login = request.method == "POST" and request.path.rstrip("/").startswith(LOGIN_PATHS)
    plan = counters.Plan(
        fixed=[burst_window, sustained_window],
        keyfail=_sliding_window("keyfail", ip, keyfail_limit, 60, now) if keyfail else None,
        keyfail_mode=keyfail,
        login=_sliding_window("login", ip, login_limit, 60, now) if is_login else None,
    )
    counted = counters.count(plan)
    if counted.refused_by_keyfail:
        failures = _sliding_usage(keyfail_limit, 60, now, *counted.keyfail)
        return failures, "Too many invalid credentials from this address."
    usages = [
        _fixed_usage(burst_window.limit, counted.fixed[0], burst_end, now),
        _fixed_usage(sustained_window.limit, counted.fixed[1], sustained_end, now),
    ]
    if is_login:
        usages.append(_sliding_usage(login_limit, 60, now, *counted.login))
    usage = _combine(usages)
    return usage, "Request rate limit exceeded." if usage.limited else None
