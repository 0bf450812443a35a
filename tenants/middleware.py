"""Choose the organization (schema) for each request: by host, or by ``X-MetaQore-Org``."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.postgresql_backend.base import FakeTenant
from django_tenants.utils import get_public_schema_name

from metaqore_site.database import tenant_connection
from metaqore_site.middleware import request_attributes
from metaqore_site.outage import database_unavailable_response
from metaqore_site.resolution_cache import ResolutionCache
from tenants.models import SLUG_PATTERN, Domain, Organization

ORG_HEADER = "X-MetaQore-Org"
# How hosts and slugs resolved, per process (invalidated by NOTIFY from tenants.models' triggers)
_resolved: ResolutionCache[tuple[list[str], tuple]] = ResolutionCache("organizations")
_FIELDS = [field.attname for field in Organization._meta.concrete_fields]


class OrganizationMiddleware(TenantMainMiddleware):
    """django-tenants' host routing plus the org header for clients that cannot resolve
    ``acme.localhost``. Bare hosts (``METAQORE_PUBLIC_HOSTS``) serve the public schema."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        tenant_connection.set_schema_to_public()
        try:
            # Host names are case-insensitive (RFC 4343); domains are stored in lower case.
            hostname = self.hostname_from_request(request).lower()
        except DisallowedHost:
            return JsonResponse({"detail": "Unknown host."}, status=400)
        slug = request.headers.get(ORG_HEADER, "").strip()
        try:
            organization = organization_resolve(hostname, slug)
        except OrganizationNotFound as exc:
            return JsonResponse({"detail": str(exc)}, status=exc.status)
        except DatabaseError:
            return database_unavailable_response(request)
        if organization is None:
            request_attributes(request).tenant = FakeTenant(schema_name=get_public_schema_name())
        else:
            organization.domain_url = hostname
            request_attributes(request).tenant = organization
            tenant_connection.set_tenant(organization)
        self.setup_url_routing(request)
        return None


class OrganizationNotFound(Exception):
    """No organization for this host/header; ``status`` is the HTTP answer (404 or 400)."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


def organization_resolve(hostname: str, slug: str) -> Organization | None:
    """The organization a request reaches by its host, or by ``X-MetaQore-Org`` on a public
    host (None: the public schema). Also used for WebSocket connections. Queries the public
    schema: call it with the connection there."""
    hostname = hostname.lower()
    if hostname in {host.lower() for host in settings.METAQORE_PUBLIC_HOSTS}:
        if not slug:
            return None
        if not re.fullmatch(SLUG_PATTERN, slug):  # no query for what cannot be a slug
            raise OrganizationNotFound(f"Unknown organization '{slug[:100]}'.")
        return _cached("slug:" + slug, lambda: _by_slug(slug))
    organization = _cached("host:" + hostname, lambda: _by_host(hostname))
    if slug and slug != organization.slug:
        raise OrganizationNotFound(
            f"Header {ORG_HEADER} '{slug}' does not match this host.", status=400
        )
    return organization


def _by_slug(slug: str) -> Organization:
    try:
        return Organization.objects.get(slug=slug)
    except Organization.DoesNotExist:
        raise OrganizationNotFound(f"Unknown organization '{slug}'.") from None


def _by_host(hostname: str) -> Organization:
    try:
        return Domain.objects.select_related("tenant").get(domain=hostname).tenant
    except Domain.DoesNotExist:
        raise OrganizationNotFound(f"No organization serves host '{hostname}'.") from None


def _cached(key: str, load) -> Organization:
    """A fresh instance per request (the middleware sets attributes on it) from the row this
    process read last, while it is known to be current (not-found answers are not cached)."""

    def read() -> tuple[list[str], tuple]:
        organization = load()
        return _FIELDS, tuple(getattr(organization, name) for name in _FIELDS)

    names, values = _resolved.get("org", key, read)
    return Organization.from_db("default", names, values)
