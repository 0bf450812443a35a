"""Shared plumbing for commands that act inside one organization's schema."""

from __future__ import annotations

from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from tenants.models import Organization


def organization_or_error(slug: str) -> Organization:
    try:
        return Organization.objects.get(slug=slug)
    except Organization.DoesNotExist:
        raise CommandError(f"Unknown organization '{slug}'.") from None


@contextmanager
def in_organization(slug: str):
    organization = organization_or_error(slug)
    with schema_context(organization.schema_name):
        yield organization


class OrgCommand(BaseCommand):
    """A command with a required ``--org <slug>``."""

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization slug")
