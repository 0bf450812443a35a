"""Users and roles of an organization: the one write path (dashboard, admin, commands, shell).

Each service runs in one transaction, takes the acting ``actor`` explicitly, changes the rows
and records its event in the same transaction (``access_audit``): ``user.created``,
``user.updated``, ``user.deactivated``, ``user.deleted``, ``user.password_changed``,
``role.granted`` and ``role.revoked`` (a role is a Django group; ``role`` in the payload is its
name). A change that changes nothing records nothing. Passwords and their hashes never reach
the trail.

Users of the public schema (the platform admin's) are operators of the platform, not of an
organization: no organization's trail records them, so there the services change without an
event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db import transaction
from django_tenants.utils import get_public_schema_name

from access.actors import Actor
from access.signals import access_audit
from metaqore_site.database import tenant_connection
from metaqore_site.governed import governed_writes, mark_audited

# What the trail shows of a user (never the password hash).
USER_FIELDS = ("username", "email", "first_name", "last_name", "is_active", "is_staff")
USER_AUDIT_FIELDS = (*USER_FIELDS, "is_superuser")
EDITABLE_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
)


class UserError(ValueError):
    """A user or role change that cannot be made (unknown role, taken username, …)."""


def in_organization() -> bool:
    schema = tenant_connection.schema_name
    return bool(schema) and schema != get_public_schema_name()


def user_snapshot(user: AbstractUser) -> dict[str, Any]:
    return {name: getattr(user, name) for name in USER_AUDIT_FIELDS}


def user_roles(user: AbstractUser) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def user_audit(event_type: str, user: AbstractUser, *, actor: Actor | str, payload: dict) -> None:
    """Record ``event_type`` about ``user`` (nothing on the public schema, see above)."""
    if not in_organization():
        return
    access_audit(
        event_type,
        actor=actor,
        resource_type="user",
        resource_id=user.get_username(),
        payload={"user": user.get_username(), **payload},
    )


def _groups(roles: Iterable[str]) -> list[Group]:
    names = sorted(set(roles))
    groups = list(Group.objects.filter(name__in=names).order_by("name"))
    missing = sorted(set(names) - {group.name for group in groups})
    if missing:
        raise UserError(f"Unknown role(s): {', '.join(missing)}.")
    return groups


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    actor: Actor | str,
    email: str = "",
    roles: Iterable[str] = (),
    is_staff: bool = True,
    is_superuser: bool = False,
) -> AbstractUser:
    """A new user (``user.created``) with ``roles`` (one ``role.granted`` each). ``password``
    None makes a user who cannot log in until a password is set."""
    User = get_user_model()
    username = username.strip()
    if not username:
        raise UserError("A username is required.")
    groups = _groups(roles)
    with governed_writes(actor):
        if User.objects.filter(username=username).exists():
            raise UserError(f"User '{username}' already exists.")
        user = User(
            username=username,
            email=User.objects.normalize_email(email),
            is_staff=is_staff or is_superuser,
            is_superuser=is_superuser,
        )
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        mark_audited(user)
        user.save(force_insert=True)
        user_audit("user.created", user, actor=actor, payload={"after": user_snapshot(user)})
        for group in groups:
            _grant(user, group, actor)
    return user


@transaction.atomic
def user_update(*, user: AbstractUser, actor: Actor | str, changes: dict[str, Any]) -> AbstractUser:
    """Change profile and flags (``EDITABLE_FIELDS``): ``user.updated`` with before/after of
    what changed, or ``user.deactivated`` when the change turns ``is_active`` off."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise UserError(f"{', '.join(sorted(unknown))} cannot be changed here.")
    with governed_writes(actor):
        user = _locked(user)
        before = user_snapshot(user)
        for name, value in changes.items():
            setattr(user, name, value)
        after = user_snapshot(user)
        changed = [name for name in after if before[name] != after[name]]
        if not changed:
            return user
        mark_audited(user)
        user.save(update_fields=changed)
        event_type = (
            "user.deactivated" if before["is_active"] and not after["is_active"] else "user.updated"
        )
        user_audit(
            event_type,
            user,
            actor=actor,
            payload={
                "before": {name: before[name] for name in changed},
                "after": {name: after[name] for name in changed},
            },
        )
    return user


def user_deactivate(*, user: AbstractUser, actor: Actor | str) -> AbstractUser:
    """The user can no longer log in (``user.deactivated``); the row and its history stay."""
    return user_update(user=user, actor=actor, changes={"is_active": False})


@transaction.atomic
def user_set_password(
    *, user: AbstractUser, password: str | None, actor: Actor | str
) -> AbstractUser:
    """Set (or, with None, disable) the password: ``user.password_changed``, without it.
    Returns the saved user (its new hash, for ``update_session_auth_hash``)."""
    with governed_writes(actor):
        user = _locked(user)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        mark_audited(user)
        user.save(update_fields=["password"])
        user_audit(
            "user.password_changed",
            user,
            actor=actor,
            payload={"usable": password is not None},
        )
    return user


@transaction.atomic
def user_delete(*, user: AbstractUser, actor: Actor | str) -> None:
    """Delete the user (``user.deleted`` with what it was and its roles). Deactivating keeps the
    row; prefer it when the name must stay taken."""
    with governed_writes(actor):
        user = _locked(user)
        payload = {"before": {**user_snapshot(user), "roles": user_roles(user)}}
        user_audit("user.deleted", user, actor=actor, payload=payload)
        mark_audited(user)
        user.delete()


@transaction.atomic
def roles_set(*, user: AbstractUser, roles: Iterable[str], actor: Actor | str) -> list[str]:
    """Make ``roles`` the user's roles: one ``role.granted`` / ``role.revoked`` per change."""
    groups = _groups(roles)
    with governed_writes(actor):
        user = _locked(user)
        current = {group.name: group for group in user.groups.all()}
        wanted = {group.name: group for group in groups}
        for name in sorted(set(current) - set(wanted)):
            _revoke(user, current[name], actor)
        for name in sorted(set(wanted) - set(current)):
            _grant(user, wanted[name], actor)
    return sorted(wanted)


@transaction.atomic
def role_grant(*, user: AbstractUser, role: str, actor: Actor | str) -> bool:
    """Give ``user`` the role ``role``; False (and no event) if it already had it."""
    (group,) = _groups([role])
    with governed_writes(actor):
        user = _locked(user)
        if user.groups.filter(pk=group.pk).exists():
            return False
        _grant(user, group, actor)
    return True


@transaction.atomic
def role_revoke(*, user: AbstractUser, role: str, actor: Actor | str) -> bool:
    """Take the role ``role`` from ``user``; False (and no event) if it did not have it."""
    (group,) = _groups([role])
    with governed_writes(actor):
        user = _locked(user)
        if not user.groups.filter(pk=group.pk).exists():
            return False
        _revoke(user, group, actor)
    return True


@transaction.atomic
def permissions_set(
    *, user: AbstractUser, permissions: Iterable[Permission], actor: Actor | str
) -> list[str]:
    """Make ``permissions`` the user's own Django permissions (the admin's "user permissions";
    MetaQore's roles do not need any): ``user.updated`` with before/after."""
    wanted = {_permission_name(p): p for p in permissions}
    with governed_writes(actor):
        user = _locked(user)
        current = {_permission_name(p): p for p in user.user_permissions.all()}
        if set(current) == set(wanted):
            return sorted(current)
        user.user_permissions.set(list(wanted.values()))
        user_audit(
            "user.updated",
            user,
            actor=actor,
            payload={
                "before": {"permissions": sorted(current)},
                "after": {"permissions": sorted(wanted)},
            },
        )
    return sorted(wanted)


def _permission_name(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _locked(user: AbstractUser) -> AbstractUser:
    """The user's row, locked until the transaction ends (concurrent changes queue)."""
    return get_user_model().objects.select_for_update().get(pk=user.pk)


def _grant(user: AbstractUser, group: Group, actor: Actor | str) -> None:
    mark_audited(user)
    user.groups.add(group)
    user_audit("role.granted", user, actor=actor, payload={"role": group.name})


def _revoke(user: AbstractUser, group: Group, actor: Actor | str) -> None:
    mark_audited(user)
    user.groups.remove(group)
    user_audit("role.revoked", user, actor=actor, payload={"role": group.name})
