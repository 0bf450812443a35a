"""Shared fixtures. Two organizations are provisioned once per test session (schemas and
migrations are the slow part); each test runs in a transaction that is rolled back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from access.actors import SYSTEM
from access.keys import agent_key_create
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from access.users import user_create
from tenants.models import Organization
from tenants.services import organization_create

# Every search path the database backend skips setting is checked against the session's, here
# and in the servers the tests start (metaqore_site.postgresql_backend).
os.environ.setdefault("METAQORE_VERIFY_SEARCH_PATH", "true")

ORG_A = ("alpha", "alpha.localhost")
ORG_B = ("beta", "beta.localhost")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After pytest-django created and migrated the test database, add the two test orgs."""
    with django_db_blocker.unblock():
        for slug, domain in (ORG_A, ORG_B):
            if not Organization.objects.filter(slug=slug).exists():
                organization_create(slug=slug, name=slug.title(), domain=domain)


@pytest.fixture(autouse=True)
def public_schema_after_test() -> Iterator[None]:
    """A request to an org's host leaves the connection in that org's schema (as django-tenants
    does); put it back so the next test, transactional ones included, starts in `public`."""
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """PBKDF2 costs ~0.2 s per user created; tests make hundreds of users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_resolution_cache(settings) -> None:
    """Tests change keys and orgs inside transactions that never commit, so no NOTIFY ever
    invalidates what a process cached: in process, hosts and keys resolve from the database
    (tests/metaqore_site/test_resolution_cache.py turns the caches on and commits)."""
    settings.METAQORE_RESOLUTION_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Rate-limit and auth-failure counters live in the (local memory) cache: start each test
    with none, so tests neither depend on nor throttle each other."""
    cache.clear()


@pytest.fixture
def org_a(db) -> Iterator[Organization]:
    organization = Organization.objects.get(slug=ORG_A[0])
    connection.set_tenant(organization)
    yield organization
    connection.set_schema_to_public()


@pytest.fixture
def org_b(db) -> Organization:
    return Organization.objects.get(slug=ORG_B[0])


def use_org(organization: Organization) -> None:
    """Point the ORM at ``organization``'s schema (requests do this through the middleware)."""
    connection.set_tenant(organization)


def make_agent_key(organization: Organization, agent: str = "coder", **kwargs) -> str:
    use_org(organization)
    return agent_key_create(agent_name=agent, **kwargs).key


def make_user(
    organization: Organization, username: str, role: str, password: str = "pw-Secret-123"
):
    use_org(organization)
    # Through the service (user.created, role.granted): users are governed tables, and a
    # committed org refuses a user row written without its event.
    return user_create(
        username=username, password=password, roles=[role], is_staff=False, actor=SYSTEM
    )


def client_for(organization: Organization, *, key: str | None = None, token: str | None = None):
    """An APIClient on ``organization``'s host, sending an agent key or a JWT if given."""
    domain = organization.domains.get(is_primary=True).domain
    client = APIClient(HTTP_HOST=domain)
    if key or token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key or token}")
    return client


@pytest.fixture
def agent_client(org_a) -> APIClient:
    """Org A, authenticated as the plain agent 'coder'."""
    return client_for(org_a, key=make_agent_key(org_a))


def user_token(organization: Organization, user) -> str:
    """An access JWT of ``user`` for ``organization`` (as POST /api/v1/auth/token/ issues)."""
    from access.api.auth_views import OrgTokenObtainPairSerializer

    use_org(organization)
    return str(OrgTokenObtainPairSerializer.get_token(user).access_token)


def role_client(organization: Organization, username: str, role: str) -> APIClient:
    """An APIClient of a new user of ``organization`` with ``role``, signed in by JWT."""
    return client_for(
        organization, token=user_token(organization, make_user(organization, username, role))
    )


# One user per role in org A (the role matrix and most API tests use these).
@pytest.fixture
def org_admin(org_a) -> APIClient:
    return role_client(org_a, "adam", ORG_ADMIN)


@pytest.fixture
def admin_user(org_admin) -> APIClient:
    return org_admin


@pytest.fixture
def officer(org_a) -> APIClient:
    return role_client(org_a, "olivia", COMPLIANCE_OFFICER)


@pytest.fixture
def auditor(org_a) -> APIClient:
    return role_client(org_a, "audrey", AUDITOR)


@pytest.fixture
def viewer(org_a) -> APIClient:
    return role_client(org_a, "vera", VIEWER)
