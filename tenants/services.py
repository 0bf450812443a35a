"""Provisioning organizations: the one write path used by commands, admin and tests."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django_tenants.utils import schema_context

from access.actors import SYSTEM, Actor
from access.role_permissions import role_permissions_sync
from compliance.audit import audit_record
from metaqore_site.governed import governed_writes
from tenants.models import SLUG_PATTERN, Domain, Organization, schema_name_for, slug_validator

# A host name as requests carry it (without the port): dot-separated labels.
DOMAIN_PATTERN = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


class OrganizationError(Exception):
    """A provisioning request that cannot be carried out; nothing was changed."""


def organization_create(
    *, slug: str, name: str, domain: str, actor: Actor | str = SYSTEM
) -> Organization:
    """Create the org's schema, migrate it, add its domain and its role groups; the org's
    audit trail starts with ``organization.created``."""
    try:
        slug_validator(slug)
        if not re.fullmatch(SLUG_PATTERN, slug):  # the validator's `$` lets "acme\n" through
            raise ValidationError(slug_validator.message)
    except ValidationError as exc:
        raise OrganizationError(f"Invalid slug {slug!r}: {exc.messages[0]}") from exc
    domain = domain.strip().lower()
    if not domain:
        raise OrganizationError("A domain is required.")
    if not DOMAIN_PATTERN.fullmatch(domain):
        raise OrganizationError(
            f"Invalid domain {domain!r}: expected a host name such as acme.localhost."
        )
    if not name.strip():
        raise OrganizationError("A name is required.")
    if Organization.objects.filter(slug=slug).exists():
        raise OrganizationError(f"Organization '{slug}' already exists.")
    if Domain.objects.filter(domain=domain).exists():
        raise OrganizationError(f"Domain '{domain}' is already used by another organization.")

    # The schema is created and migrated by save(); django-tenants drops it again if that fails.
    organization = Organization(slug=slug, name=name.strip(), schema_name=schema_name_for(slug))
    try:
        organization.save(verbosity=0)
    except IntegrityError as exc:  # a concurrent create_org won the race for this slug
        raise OrganizationError(f"Organization '{slug}' already exists.") from exc
    try:
        with transaction.atomic():
            Domain.objects.create(domain=domain, tenant=organization, is_primary=True)
            organization_start(organization, actor=actor, domain=domain)
    except IntegrityError as exc:  # a concurrent create_org took the domain meanwhile
        organization.delete(force_drop=True)
        raise OrganizationError(
            f"Domain '{domain}' is already used by another organization."
        ) from exc
    except Exception:
        organization.delete(force_drop=True)
        raise
    return organization


def organization_start(
    organization: Organization,
    *,
    actor: Actor | str,
    domain: str | None = None,
    via: str | None = None,
) -> None:
    """A new org's role groups and the first event of its trail, ``organization.created``
    (``organization_create`` and the platform admin both end with this)."""
    payload = {"name": organization.name, "schema_name": organization.schema_name}
    if domain is not None:
        payload["domain"] = domain
    if via is not None:
        payload["via"] = via
    # The roles and their permissions are governed tables: declared and audited together.
    with (
        schema_context(organization.schema_name),
        transaction.atomic(),
        governed_writes(actor),
    ):
        organization_ensure_roles()
        audit_record(
            event_type="organization.created",
            actor=actor,
            resource_type="organization",
            resource_id=organization.slug,
            payload=payload,
        )


def organization_ensure_roles() -> None:
    """Create the four role groups in the current schema with their admin permissions
    (idempotent; ``access.role_permissions`` holds the table)."""
    role_permissions_sync()
