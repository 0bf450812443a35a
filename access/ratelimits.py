"""Rate limits per credential (else per client IP), counted in Django's cache with
django-ratelimit, so every worker sharing one Redis shares the counters.

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
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django_ratelimit.core import get_usage

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


def _usage(request, group: str, identity: str, rate: str, *, increment: bool):
    return get_usage(
        request,
        group=group,
        key=lambda _group, _request: identity,
        rate=rate,
        increment=increment,
    )


def _as_usage(window: dict) -> Usage:
    """A django-ratelimit (fixed) window as a Usage."""
    return Usage(
        limit=window["limit"],
        remaining=max(window["limit"] - window["count"], 0),
        retry_after=max(window["time_left"], 1) if window["should_limit"] else 0,
        limited=window["should_limit"],
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
    index, elapsed = divmod(now, window)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    current_key = f"mq:sw:{group}:{digest}:{int(index)}"
    previous_key = f"mq:sw:{group}:{digest}:{int(index) - 1}"
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


def request_usage(request, identity: str, privileged: bool) -> Usage | None:
    """Count this request against its identity's windows (None when limits are off)."""
    if not settings.METAQORE_ENABLE_RATE_LIMIT:
        return None
    per_minute = settings.METAQORE_RATE_LIMIT_PER_MINUTE
    burst = settings.METAQORE_RATE_LIMIT_BURST
    if privileged:
        per_minute = settings.METAQORE_PRIVILEGED_RATE_LIMIT_PER_MINUTE
        burst *= 10
    sustained = f"{per_minute * SUSTAINED_WINDOW_MINUTES}/{SUSTAINED_WINDOW_MINUTES}m"
    windows = [
        _usage(request, "mq:burst", identity, f"{burst}/m", increment=True),
        _usage(request, "mq:sustained", identity, sustained, increment=True),
    ]
    usages = [_as_usage(w) for w in windows if w is not None]
    if request.method == "POST" and request.path.rstrip("/").startswith(LOGIN_PATHS):
        usages.append(
            sliding_usage(
                "login",
                f"ip:{client_ip(request)}",
                settings.METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE,
                increment=True,
            )
        )
    return _combine(usages)


def key_failures(request, *, increment: bool) -> Usage | None:
    """Invalid credentials from this IP in the last minute (brute-force guard)."""
    if not settings.METAQORE_ENABLE_RATE_LIMIT:
        return None
    return sliding_usage(
        "keyfail",
        f"ip:{client_ip(request)}",
        settings.METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE,
        increment=increment,
    )
