"""Organizations (tenants) and their domains; these live in the public schema."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"
slug_validator = RegexValidator(
    SLUG_PATTERN, "2-40 characters: lowercase letters, digits and '-', starting with a letter."
)


def schema_name_for(slug: str) -> str:
    # A fixed prefix keeps org schemas apart from `public`, `pg_*` and `information_schema`.
    return "org_" + slug.replace("-", "_")


class Organization(TenantMixin):
    slug = models.CharField(max_length=40, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False  # dropping an org's data is an explicit operator decision

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Domain(DomainMixin):
    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain
