"""Access events that Django itself triggers, recorded in the organization's trail.

- Sign-ins and sign-outs of the dashboard and the admin (Django's auth signals):
  ``auth.login``, ``auth.logout``, ``auth.login_failed`` (the username tried and the source IP;
  never the password). A failed JWT request (``POST /api/v1/auth/token/``) is a failed login
  too: simplejwt authenticates through ``django.contrib.auth.authenticate``.
- The safety net for users and roles changed without ``access.users`` (the shell, scripts):
  ``user.created`` / ``user.updated`` / ``user.deactivated`` / ``user.deleted`` and
  ``role.granted`` / ``role.revoked`` with actor ``system``. The services mark their writes
  (``mark_audited``) and audit them themselves.

Nothing is recorded on the public schema (the platform's own users have no org trail).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from access.actors import SYSTEM, actor_for_user
from access.ratelimits import client_ip
from access.signals import access_audit
from access.users import (
    USER_AUDIT_FIELDS,
    in_organization,
    user_audit,
    user_snapshot,
)
from metaqore_site.governed import consume_mark, is_marked

_BEFORE = "_access_user_before"
# Django's own bookkeeping of a user row (update_last_login on every sign-in).
_BOOKKEEPING_FIELDS = frozenset({"last_login"})
MAX_USERNAME_TRIED = 150


def _request_fields(request: Any) -> dict[str, str]:
    if request is None:
        return {"source_ip": "", "path": ""}
    return {"source_ip": client_ip(request), "path": request.path[:200]}


def record_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if not in_organization():
        return
    user_audit("auth.login", user, actor=actor_for_user(user), payload=_request_fields(request))


def record_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if not in_organization() or user is None:  # a sign-out without a session
        return
    user_audit("auth.logout", user, actor=actor_for_user(user), payload=_request_fields(request))


def record_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    if not in_organization():
        return
    username_field = get_user_model().USERNAME_FIELD
    tried = str(credentials.get(username_field) or credentials.get("username") or "")
    tried = tried[:MAX_USERNAME_TRIED]
    # Django already masks the password in `credentials`; only the username is kept anyway.
    access_audit(
        "auth.login_failed",
        actor="anonymous",
        resource_type="user",
        resource_id=tried,
        payload={"username": tried, **_request_fields(request)},
    )


def _remember_before(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if is_marked(instance) or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and set(update_fields) <= _BOOKKEEPING_FIELDS:
        return
    if not in_organization():
        return
    previous = sender._default_manager.filter(pk=instance.pk).values(*USER_AUDIT_FIELDS).first()
    if previous is not None:
        setattr(instance, _BEFORE, previous)


def _audit_save(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if consume_mark(instance) or not in_organization():
        return
    after = user_snapshot(instance)
    if created:
        user_audit("user.created", instance, actor=SYSTEM, payload={"after": after})
        return
    if before is None:
        return
    changed = [name for name in after if before[name] != after[name]]
    if not changed:
        return
    event_type = "user.deactivated" if before["is_active"] and not after["is_active"] else None
    user_audit(
        event_type or "user.updated",
        instance,
        actor=SYSTEM,
        payload={
            "before": {name: before[name] for name in changed},
            "after": {name: after[name] for name in changed},
        },
    )


def _audit_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    if consume_mark(instance) or not in_organization():
        return
    user_audit("user.deleted", instance, actor=SYSTEM, payload={"before": user_snapshot(instance)})


def _audit_roles(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """``user.groups.add/remove/clear`` (and ``group.user_set``…) outside ``access.users``."""
    if action not in ("pre_clear", "post_add", "post_remove") or not in_organization():
        return
    if action == "pre_clear":  # the removed pks are known only before the clear
        if is_marked(instance):
            return
        if reverse:  # group.user_set.clear(): every member loses the role
            pairs = [(user, instance) for user in instance.user_set.all()]
        else:
            pairs = [(instance, group) for group in instance.groups.all()]
        for user, group in pairs:
            user_audit("role.revoked", user, actor=SYSTEM, payload={"role": group.name})
        return
    if consume_mark(instance) or not pk_set:
        return
    event_type = "role.granted" if action == "post_add" else "role.revoked"
    if reverse:  # group.user_set.add(users…)
        users = get_user_model()._default_manager.filter(pk__in=pk_set).order_by("pk")
        for user in users:
            user_audit(event_type, user, actor=SYSTEM, payload={"role": instance.name})
    else:
        for group in Group.objects.filter(pk__in=pk_set).order_by("name"):
            user_audit(event_type, instance, actor=SYSTEM, payload={"role": group.name})


def connect() -> None:
    """Connect the receivers (``AccessConfig.ready``)."""
    User = get_user_model()
    user_logged_in.connect(record_login, dispatch_uid="access-auth-login")
    user_logged_out.connect(record_logout, dispatch_uid="access-auth-logout")
    user_login_failed.connect(record_login_failed, dispatch_uid="access-auth-login-failed")
    pre_save.connect(_remember_before, sender=User, dispatch_uid="access-user-pre-save")
    post_save.connect(_audit_save, sender=User, dispatch_uid="access-user-post-save")
    post_delete.connect(_audit_delete, sender=User, dispatch_uid="access-user-post-delete")
    m2m_changed.connect(_audit_roles, sender=User.groups.through, dispatch_uid="access-user-groups")
