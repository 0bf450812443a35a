"""Failed authentications in the audit trail, rate-limited so that a flood of bad keys or
tokens cannot flood the trail (counters in the cache, shared by every worker)."""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django_tenants.utils import get_public_schema_name

from access.signals import access_audit
from metaqore_site.database import tenant_connection

AUTH_FAILED_WINDOW = 60  # seconds
AUTH_FAILED_PER_CREDENTIAL = 1  # events per source IP + key prefix per window
AUTH_FAILED_PER_IP = 20  # events per source IP per window, whatever the keys
AUTH_FAILED_PER_ORG = 200  # events per organization per window, whatever the sources


def _cache_key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"mq:auth-failed:{digest}"


def _within(key: str, limit: int) -> tuple[bool, int]:
    """Count one hit in the window; (still within limit, hits so far)."""
    cache.add(key, 0, AUTH_FAILED_WINDOW)
    try:
        hits = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, AUTH_FAILED_WINDOW)
        hits = 1
    return hits <= limit, hits


def auth_failed_record(
    *, source_ip: str, credential: str, key_prefix: str, reason: str, path: str = ""
) -> bool:
    """Record a rejected API key or JWT, at most once per window per source IP + key prefix,
    and within per-IP and per-organization caps, so a flood of bad keys cannot flood the trail.

    Commits on its own when called outside a transaction (authentication runs before any
    write transaction and the request then ends in 401). Returns whether an event was written
    (False when rate-limited or on the public host).
    """
    schema = tenant_connection.schema_name
    if not schema or schema == get_public_schema_name():
        return False
    within, _hits = _within(_cache_key(schema, source_ip, key_prefix), AUTH_FAILED_PER_CREDENTIAL)
    if not within:
        return False
    for scope, key, limit in (
        ("source_ip", _cache_key(schema, source_ip), AUTH_FAILED_PER_IP),
        ("organization", _cache_key(schema), AUTH_FAILED_PER_ORG),
    ):
        within, hits = _within(key, limit)
        if not within:
            if hits != limit + 1:
                return False
            # One marker event says that further failures are being suppressed.
            reason = (
                f"{reason}; further failures from this {scope} are not recorded "
                f"for up to {AUTH_FAILED_WINDOW} s"
            )
            break
    access_audit(
        "auth.failed",
        actor="anonymous",
        resource_type="credential",
        resource_id=key_prefix,
        payload={
            "credential": credential,
            "key_prefix": key_prefix,
            "reason": reason,
            "source_ip": source_ip,
            "path": path,
            "window_seconds": AUTH_FAILED_WINDOW,
        },
    )
    return True
