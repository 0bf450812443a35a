"""The Django admin's model permissions of each role group, derived from the role table of
API_REFERENCE.md (``access.permissions``): viewers read, auditors also read the audit trail,
compliance officers also write work and resolve conflicts, org admins also manage policy,
providers, keys, users, webhooks and specialists.

Models are named by ``app_label.model`` (strings: access sits below the apps it names).
``role_permissions_sync`` sets the four groups' permissions in the current org schema; it runs
when an org starts (``tenants.services.organization_start``) and after every ``migrate`` of an
org schema (a ``post_migrate`` receiver), so new and existing orgs stay in step with this table.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.db.models import Q
from django_tenants.utils import get_public_schema_name

from access.actors import SYSTEM, Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, ROLES, VIEWER
from access.signals import access_audit
from metaqore_site.governed import governed_writes

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)

# What every role reads (the API's "read" action: lists, details, policy, specialists).
READ = (
    "projects.project",
    "projects.task",
    "artifacts.artifact",
    "artifacts.conflict",
    "governance.governancepolicy",
    "governance.provider",
    "governance.policyrevision",
    "governance.waiver",
    "governance.admissiondecision",
    "hmcp.skill",
    "hmcp.hierarchypolicy",
    "hmcp.specialist",
    "hmcp.trainingjob",
)


def _grant(models: Iterable[str], *verbs: str) -> set[tuple[str, str]]:
    return {(model, verb) for model in models for verb in verbs}


_VIEWER = _grant(READ, VIEW)
_AUDITOR = _VIEWER | _grant(["compliance.auditevent", "compliance.erasure"], VIEW)
_OFFICER = (
    _AUDITOR
    # write work: projects, tasks, artifacts (through their services)
    | _grant(["projects.project", "projects.task", "artifacts.artifact"], *ALL)
    # resolve and escalate conflicts, move specialists (admin actions calling services)
    | _grant(["artifacts.conflict", "hmcp.specialist"], CHANGE)
    # revoke waivers (an admin action calling the service; granted in the dashboard or API)
    | _grant(["governance.waiver"], CHANGE)
)
_ADMIN = (
    _OFFICER
    | _grant(["governance.governancepolicy", "hmcp.hierarchypolicy"], CHANGE)
    | _grant(["governance.provider", "hmcp.skill", "events.webhook"], *ALL)
    | _grant(["events.webhookdelivery"], VIEW)
    | _grant(["access.agent"], VIEW)
    | _grant(["access.agentkey"], VIEW, CHANGE)  # revoked by an action; made in the dashboard
    | _grant(["hmcp.trainingjob"], CHANGE)  # re-queue expired leases
    # Users and their roles change through access.users (audited) in the admin too.
    | _grant(["auth.user"], *ALL)
    | _grant(["auth.group"], VIEW)  # the groups' permissions are this table, not hand edits
)

ROLE_MODEL_PERMISSIONS: dict[str, frozenset[tuple[str, str]]] = {
    VIEWER: frozenset(_VIEWER),
    AUDITOR: frozenset(_AUDITOR),
    COMPLIANCE_OFFICER: frozenset(_OFFICER),
    ORG_ADMIN: frozenset(_ADMIN),
}


def _lookup(grants: Iterable[tuple[str, str]]) -> Q:
    query = Q(pk__in=[])
    for model, verb in grants:
        app_label, model_name = model.split(".")
        query |= Q(
            content_type__app_label=app_label,
            content_type__model=model_name,
            codename=f"{verb}_{model_name}",
        )
    return query


def role_permissions_sync() -> dict[str, int]:
    """Create the role groups in the current schema and set each one's model permissions to
    ``ROLE_MODEL_PERMISSIONS`` (idempotent). Returns the number of permissions per role.

    The groups are governed tables: call it in a transaction that records an audit event (an
    org's start does) or use ``role_permissions_sync_audited``."""
    return {role: len(names) for role, names in _sync().items()}


def _names(group: Group) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def _sync() -> dict[str, set[str]]:
    for app_config in apps.get_app_configs():  # the permission rows, if migrate made none yet
        create_permissions(app_config, verbosity=0)
    granted: dict[str, set[str]] = {}
    for role, grants in ROLE_MODEL_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        matching = Permission.objects.filter(_lookup(grants)).select_related("content_type")
        permissions = list(matching)
        group.permissions.set(permissions)
        granted[role] = {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
    return granted


@transaction.atomic
def role_permissions_sync_audited(*, actor: Actor | str = SYSTEM) -> dict[str, int]:
    """``role_permissions_sync`` as a governed change: one ``role.permissions_changed`` per
    role whose permissions changed (added/removed), nothing when none did."""
    with governed_writes(actor):
        before = {group.name: _names(group) for group in Group.objects.filter(name__in=ROLES)}
        after = _sync()
        for role, names in after.items():
            old = before.get(role, set())
            if names != old:
                access_audit(
                    "role.permissions_changed",
                    actor=actor,
                    resource_type="role",
                    resource_id=role,
                    payload={"added": sorted(names - old), "removed": sorted(old - names)},
                )
    return {role: len(names) for role, names in after.items()}


def role_permissions_after_migrate(sender, apps=apps, **kwargs) -> None:
    """``post_migrate`` of an org schema: bring the role groups in step with the table. Not in
    the public schema (no roles there), nor after a migrate to an older state that lacks some
    of the table's models (``apps`` is the migrated state)."""
    if getattr(connection, "schema_name", None) in (None, get_public_schema_name()):
        return
    try:
        for grants in ROLE_MODEL_PERMISSIONS.values():
            for model, _verb in grants:
                apps.get_model(model)
    except LookupError:
        return
    # A schema without the role groups is not an organization yet (the template, or a schema
    # being provisioned): the org's start creates them, in its own audited transaction.
    if not Group.objects.filter(name__in=ROLES).exists():
        return
    role_permissions_sync_audited()
