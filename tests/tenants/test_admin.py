"""The platform admin (bare host) creates organizations through the same start as create_org."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from access.roles import ROLES
from compliance.models import AuditEvent
from tenants.models import Organization


def test_an_org_added_in_the_platform_admin_gets_roles_and_its_first_event(db):
    connection.set_schema_to_public()
    root = get_user_model().objects.create_superuser("platform-root", "", "pw-Secret-123")
    client = Client(HTTP_HOST="localhost")
    client.force_login(root)
    response = client.post(
        "/admin/tenants/organization/add/",
        {
            "slug": "initech",
            "name": "Initech",
            "domains-TOTAL_FORMS": "1",
            "domains-INITIAL_FORMS": "0",
            "domains-MIN_NUM_FORMS": "0",
            "domains-MAX_NUM_FORMS": "1000",
            "domains-0-domain": "initech.localhost",
            "domains-0-is_primary": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    organization = Organization.objects.get(slug="initech")
    try:
        assert organization.domains.get().domain == "initech.localhost"
        with schema_context(organization.schema_name):
            assert set(Group.objects.values_list("name", flat=True)) == set(ROLES)
            event = AuditEvent.objects.get(event_type="organization.created")
            assert event.actor == "user:platform-root"
            assert event.payload == {
                "name": "Initech",
                "schema_name": organization.schema_name,
                "via": "admin",
            }
    finally:
        connection.set_schema_to_public()
        organization.delete(force_drop=True)
