"""Process caches of org and key resolution (metaqore_site.resolution_cache): they save the
queries, and a change committed anywhere reaches every process through NOTIFY at once. The
revocation bound (issue #24): a revoked key is refused by every server process within 1 s,
with the caches' time to live set far longer, so only the notification can explain it."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.keys import agent_key_authenticate, agent_key_create, agent_key_revoke
from metaqore_site import resolution_cache
from tenants.middleware import OrganizationNotFound, organization_resolve
from tenants.models import Domain
from tests.conftest import client_for
from tests.events.live import committed_organization
from tests.processes import database_url, http, running_server, subprocess_env
from tests.test_request_cost import statements


@pytest.fixture(scope="module")
def cached_org(django_db_setup, django_db_blocker):
    """An org whose changes commit (tests' own transactions never would)."""
    with django_db_blocker.unblock(), committed_organization("cached") as organization:
        yield organization


@pytest.fixture
def caching(settings, django_db_blocker):
    """Caches on, in this process; what the tests change commits (no test transaction)."""
    settings.METAQORE_RESOLUTION_CACHE_SECONDS = 60
    with django_db_blocker.unblock():
        assert resolution_cache.wait_until_listening()
        yield
        resolution_cache.stop_listening()  # before the test database is dropped


def new_key(organization, name: str) -> str:
    connection.set_tenant(organization)
    try:
        return agent_key_create(agent_name=name).key
    finally:
        connection.set_schema_to_public()


def revoke(organization, key: str) -> None:
    connection.set_tenant(organization)
    try:
        agent_key_revoke(prefix=key[:12])
    finally:
        connection.set_schema_to_public()


def key_queries(organization, key: str) -> tuple[object, int]:
    connection.set_tenant(organization)
    try:
        with CaptureQueriesContext(connection) as captured:
            record = agent_key_authenticate(key)
        return record, sum('"governance_agentkey"' in q["sql"] for q in captured)
    finally:
        connection.set_schema_to_public()


def eventually(check, seconds: float) -> float:
    """Seconds until ``check()`` held (fails after ``seconds``)."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        time.sleep(0.01)
    return time.monotonic() - began


def test_a_key_is_read_once_then_served_from_the_process(cached_org, caching, django_db_blocker):
    with django_db_blocker.unblock():
        key = new_key(cached_org, "cached-reader")
        first, reads = key_queries(cached_org, key)
        assert first is not None and reads >= 1
        # The key's creation is announced too; once it has arrived, reads come from memory.
        eventually(lambda: key_queries(cached_org, key)[1] == 0, 2.0)
        again, reads = key_queries(cached_org, key)
        assert again is not None and again.pk == first.pk and again.agent.name == "cached-reader"
        assert reads == 0  # from the cache
        assert again is not first  # a fresh instance per request
        assert key_queries(cached_org, key[:-1] + ("A" if key[-1] != "A" else "B"))[0] is None

        revoke(cached_org, key)
        # In this process; the bound across processes is the last test's.
        eventually(lambda: key_queries(cached_org, key)[0] is None, 2.0)


def test_a_host_is_read_once_and_a_new_domain_routes_at_once(
    cached_org, caching, django_db_blocker
):
    with django_db_blocker.unblock():
        with CaptureQueriesContext(connection) as first:
            assert organization_resolve("cached.localhost", "").slug == "cached"
        with CaptureQueriesContext(connection) as second:
            assert organization_resolve("cached.localhost", "").slug == "cached"
        assert len(first) >= 1 and len(second) == 0
        assert organization_resolve("cached.localhost", "") is not organization_resolve(
            "cached.localhost", ""
        )
        domain = Domain.objects.create(
            domain="cached-two.localhost", tenant=cached_org, is_primary=False
        )
        try:
            assert organization_resolve("cached-two.localhost", "").slug == "cached"
            domain.domain = "cached-three.localhost"
            domain.save()

            def gone() -> bool:
                try:
                    organization_resolve("cached-two.localhost", "")
                except OrganizationNotFound:
                    return True
                return False

            eventually(gone, 2.0)
        finally:
            domain.delete()


def test_a_lost_listener_drops_what_was_cached(cached_org, caching, django_db_blocker):
    """Changes made while a process was not listening never reached it: when its listener's
    connection dies, everything it cached is void (read again from the database)."""
    with django_db_blocker.unblock():
        key = new_key(cached_org, "listener-loss")
        eventually(lambda: key_queries(cached_org, key)[1] == 0, 2.0)
        listener = resolution_cache._listener
        generation = listener.generation
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [listener.backend_pid])
        eventually(lambda: listener.generation >= generation + 2 and listener.connected, 5.0)
        assert key_queries(cached_org, key)[1] >= 1


@pytest.mark.e2e
def test_a_revoked_key_is_refused_by_every_process_within_a_second(cached_org, django_db_blocker):
    with django_db_blocker.unblock():
        key = new_key(cached_org, "two-processes")
    env = subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict),
        METAQORE_RESOLUTION_CACHE_SECONDS="600",  # only NOTIFY can end what they cached
        METAQORE_ENABLE_RATE_LIMIT="false",
    )
    headers = {"Host": "cached.localhost", "Authorization": f"Bearer {key}"}
    with (
        running_server(env, kind="gunicorn") as first,
        running_server(env, kind="gunicorn") as second,
    ):
        servers = [first, second]
        for base in servers:  # each process reads the key and caches it
            for _ in range(3):
                assert http("GET", f"{base}/api/v1/projects", headers=headers)[0] == 200
        with django_db_blocker.unblock():
            revoke(cached_org, key)
        revoked_at = time.monotonic()
        for base in servers:

            def refused(base=base) -> bool:
                return http("GET", f"{base}/api/v1/projects", headers=headers)[0] == 401

            eventually(refused, 1.0 - (time.monotonic() - revoked_at))


def test_cached_requests_cost_fewer_statements(cached_org, caching, django_db_blocker):
    """The pins of tests/test_request_cost.py, with the caches on and warm: the host, the key
    and the governance mode resolve from memory, and the connection's session already has the
    org's search path (metaqore_site.postgresql_backend): no public-schema query, no SET."""
    with django_db_blocker.unblock():
        key = new_key(cached_org, "pinned-cached")
        agent = client_for(cached_org, key=key)
        project = agent.post("/api/v1/projects", {"name": "cached"}).json()["id"]
        anonymous = client_for(cached_org)
        eventually(lambda: statements(anonymous, "get", "/api/v1/health") == ["SELECT 1"], 2.0)
        assert statements(anonymous, "get", "/api/v1/health") == ["SELECT 1"]
        read = f"/api/v1/projects/{project}"
        eventually(lambda: statements(agent, "get", read) == ["SELECT projects_project"], 2.0)
        assert statements(agent, "get", read) == ["SELECT projects_project"]


def test_this_processs_own_revocation_is_refused_at_once(
    cached_org, caching, django_db_blocker, monkeypatch
):
    """The writing process does not wait for its listener: its commit voids its entries."""
    with django_db_blocker.unblock():
        key = new_key(cached_org, "own-revocation")
        eventually(lambda: key_queries(cached_org, key)[1] == 0, 2.0)
        # The listener hears nothing from now on (as if the notification were still on its way).
        monkeypatch.setattr(resolution_cache._listener, "heard", lambda kind: None)
        revoke(cached_org, key)
        assert key_queries(cached_org, key)[0] is None
