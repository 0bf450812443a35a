"""Organizations (tenants) and their domains; these live in the public schema."""

from __future__ import annotations

from datetime import datetime

import pgtrigger
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connection, models
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.utils import schema_exists

from metaqore_site.database import tenant_connection
from metaqore_site.resolution_cache import notify_sql
from tenants.provisioning import TEMPLATE_SCHEMA, schema_provision

SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"
slug_validator = RegexValidator(
    SLUG_PATTERN, "2-40 characters: lowercase letters, digits and '-', starting with a letter."
)


def schema_name_for(slug: str) -> str:
    # A fixed prefix keeps org schemas apart from `public`, `pg_*` and `information_schema`.
    return "org_" + slug.replace("-", "_")


def _org_changed(name: str) -> pgtrigger.Trigger:
    """Processes cache how hosts and slugs resolve (metaqore_site.resolution_cache): any
    change announces itself on commit."""
    return pgtrigger.Trigger(
        name=name,
        level=pgtrigger.Statement,
        when=pgtrigger.After,
        operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete | pgtrigger.Truncate,
        func=notify_sql("'org'"),
    )


class Organization(TenantMixin):
    # Annotated: the type checker cannot see the fields of an untyped base (TenantMixin).
    slug: models.CharField[str, str] = models.CharField(
        max_length=40, unique=True, validators=[slug_validator]
    )
    name: models.CharField[str, str] = models.CharField(max_length=200)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False  # dropping an org's data is an explicit operator decision
    # New schemas are cloned from the migrated template schema (tenants.provisioning); False
    # migrates each one from scratch (the benchmark's baseline).
    clone_from_template = True
    provisioned_by: str | None = None  # after creation: "clone" or "migrate"

    class Meta:
        ordering = ["slug"]
        triggers = [_org_changed("organization_cache_notify")]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args, **kwargs) -> None:
        # A tenant row on the template would route requests to it, and deleting it would drop it.
        if self._state.adding and self.schema_name.lower() == TEMPLATE_SCHEMA:
            raise ValidationError(f"The schema name {TEMPLATE_SCHEMA!r} is reserved.")
        super().save(*args, **kwargs)

    def delete(self, force_drop: bool = False, *args, **kwargs):
        if force_drop and connection.in_atomic_block:
            # Checks deferred to commit (foreign keys, the governed tables' guards) that are
            # pending in this transaction would make DROP SCHEMA fail: run them now.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        return super().delete(force_drop, *args, **kwargs)

    def create_schema(
        self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1
    ) -> bool:
        """Called by ``save()`` for a new organization (which drops the schema again if this
        raises): a clone of the template instead of django-tenants' migrate-every-migration."""
        if not sync_schema:
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        if check_if_exists and schema_exists(self.schema_name):
            return False
        self.provisioned_by = schema_provision(
            self.schema_name, clone=self.clone_from_template, verbosity=verbosity
        )
        tenant_connection.set_schema_to_public()
        return True


class Domain(DomainMixin):
    class Meta:
        ordering = ["domain"]
        triggers = [_org_changed("domain_cache_notify")]

    def __str__(self) -> str:
        return self.domain
