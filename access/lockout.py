"""Per-account login lockout with backoff (README "Security").

Every password login (dashboard, admin, ``POST /api/v1/auth/token/``) goes through
:class:`LockoutModelBackend`. After ``METAQORE_LOGIN_LOCKOUT_FAILURES`` (5) wrong passwords
for one account within ``METAQORE_LOGIN_LOCKOUT_WINDOW_SECONDS`` (900), from any number of
addresses, the account is locked for ``METAQORE_LOGIN_LOCKOUT_SECONDS`` (60), then twice as
long after each further lockout (capped at a day) until a successful login or an org admin
unlocks it. While locked, even the right password is refused. Lockouts and unlocks are
audited (``auth.locked_out``, ``auth.unlocked``).

The counters live in the org's schema (usernames are per org); the platform's own admin
(public schema) relies on the per-IP login limit only.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from access.actors import Actor
from access.models import LoginLockout
from access.signals import access_audit
from metaqore_site.database import tenant_connection

MAX_LOCKOUT_SECONDS = 24 * 3600


def _applies() -> bool:
    schema = tenant_connection.schema_name
    return bool(schema) and schema != get_public_schema_name()


def lockout_seconds(username: str) -> int:
    """Seconds until ``username``'s lockout ends (0: not locked)."""
    if not _applies() or not username:
        return 0
    row = LoginLockout.objects.filter(username=username).first()
    return row.seconds_locked(timezone.now()) if row else 0


def _backoff_seconds(lockouts: int) -> int:
    base = settings.METAQORE_LOGIN_LOCKOUT_SECONDS
    return min(base * 2 ** max(lockouts - 1, 0), MAX_LOCKOUT_SECONDS)


def login_failure_record(*, username: str, source_ip: str) -> LoginLockout | None:
    """Count one wrong password for ``username``; lock the account at the limit (audited).

    Unknown usernames are not counted (nothing to lock, and no row per guess)."""
    if not _applies() or not username:
        return None
    if not get_user_model().objects.filter(username=username).exists():
        return None
    now = timezone.now()
    window = timedelta(seconds=settings.METAQORE_LOGIN_LOCKOUT_WINDOW_SECONDS)
    with transaction.atomic():
        row, _ = LoginLockout.objects.select_for_update().get_or_create(username=username)
        if row.seconds_locked(now):
            return row  # refused before its password was checked: not another failure
        if row.last_failure_at is None or row.last_failure_at < now - window:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= settings.METAQORE_LOGIN_LOCKOUT_FAILURES:
            row.lockouts += 1
            seconds = _backoff_seconds(row.lockouts)
            row.locked_until = now + timedelta(seconds=seconds)
            access_audit(
                "auth.locked_out",
                actor="system",
                resource_type="user",
                resource_id=username,
                payload={
                    "username": username,
                    "failures": row.failures,
                    "lockouts": row.lockouts,
                    "locked_seconds": seconds,
                    "locked_until": row.locked_until.isoformat(),
                    "source_ip": source_ip,
                },
            )
            row.failures = 0
        row.save()
    return row


def login_success_record(*, username: str) -> None:
    """A successful login ends the account's failure history and its backoff."""
    if _applies() and username:
        LoginLockout.objects.filter(username=username).delete()


def account_unlock(*, username: str, actor: Actor | str) -> bool:
    """An org admin lifts ``username``'s lockout and backoff (audited); False if none."""
    with transaction.atomic():
        row = LoginLockout.objects.select_for_update().filter(username=username).first()
        if row is None:
            return False
        was_locked = row.seconds_locked(timezone.now())
        row.delete()
        access_audit(
            "auth.unlocked",
            actor=actor,
            resource_type="user",
            resource_id=username,
            payload={
                "username": username,
                "was_locked": bool(was_locked),
                "lockouts": row.lockouts,
                "failures": row.failures,
            },
        )
    return True


def locked_accounts() -> list[LoginLockout]:
    """Accounts locked now or with a failure history (for the dashboard)."""
    return list(LoginLockout.objects.order_by("-locked_until", "username")[:500])


def _client_ip(request) -> str:
    meta = getattr(request, "META", None) or {}
    return meta.get("REMOTE_ADDR", "") or "unknown"


class LockoutModelBackend(ModelBackend):
    """Django's ModelBackend behind the per-account lockout."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        seconds = lockout_seconds(username)
        if seconds:
            if request is not None:
                request.metaqore_lockout_seconds = seconds
            # authenticate() stops at PermissionDenied: no other backend may let it in.
            raise PermissionDenied(f"Account locked for {seconds} s.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            row = login_failure_record(username=username, source_ip=_client_ip(request))
            if row is not None and row.seconds_locked(timezone.now()) and request is not None:
                request.metaqore_lockout_seconds = row.seconds_locked(timezone.now())
        else:
            login_success_record(username=username)
        return user
