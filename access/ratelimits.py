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
  ``METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE`` (30) bad API keys in a minute gets 429 for every
  further key until the minute ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
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


def _combine(windows: list[dict]) -> Usage:
    binding = min(windows, key=lambda w: w["limit"] - w["count"])
    limited = [w for w in windows if w["should_limit"]]
    retry_after = max((max(w["time_left"], 1) for w in limited), default=0)
    return Usage(
        limit=binding["limit"],
        remaining=max(binding["limit"] - binding["count"], 0),
        retry_after=retry_after,
        limited=bool(limited),
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
    if request.method == "POST" and request.path.rstrip("/").startswith(LOGIN_PATHS):
        login_rate = f"{settings.METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE}/m"
        windows.append(
            _usage(request, "mq:login", f"ip:{client_ip(request)}", login_rate, increment=True)
        )
    return _combine([w for w in windows if w is not None])


def key_failures(request, *, increment: bool) -> Usage | None:
    """Bad API keys from this IP in the current minute (brute-force guard)."""
    if not settings.METAQORE_ENABLE_RATE_LIMIT:
        return None
    rate = f"{settings.METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE}/m"
    usage = _usage(request, "mq:keyfail", f"ip:{client_ip(request)}", rate, increment=increment)
    return _combine([usage]) if usage else None
