"""Helpers for the audit trail tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from access.actors import SYSTEM, Actor
from access.roles import AUDITOR
from compliance.audit import audit_record
from compliance.models import AuditEvent
from metaqore_site.database import EMBEDDED_RUNTIME_ROLE
from tests.conftest import client_for, make_agent_key, make_user

PASSWORD = "pw-Secret-123"


@pytest.fixture(autouse=True)
def fresh_cache_and_fast_hashing(settings):
    # auth.failed rate limits live in the cache; each test starts with none spent.
    cache.clear()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield
    cache.clear()


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def events_after(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def kinds(events) -> list[tuple[str, str]]:
    return [(event.event_type, event.actor) for event in events]


def user_client(organization, username: str, role: str, **user_kwargs):
    """A client holding a JWT of a new user of ``organization`` with ``role``."""
    make_user(organization, username, role, password=PASSWORD)
    client = client_for(organization)
    response = client.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return client_for(organization, token=response.json()["access"])


@pytest.fixture
def auditor_client(org_a):
    return user_client(org_a, "audrey", AUDITOR)


@pytest.fixture
def privileged_client(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "orchestrator", privileged=True))


def disable_audit_triggers() -> None:
    """Inside the test's transaction only (rolled back with it): let the test tamper."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE compliance_auditchainhead DISABLE TRIGGER USER")


def raw_sql(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def runtime_role(org_a):
    """The rest of the test runs as the runtime database role (what the server and workers
    connect as), inside the test's transaction: what it may not do, the database refuses."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {EMBEDDED_RUNTIME_ROLE}")
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == EMBEDDED_RUNTIME_ROLE
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


@pytest.fixture
def sample(org_a):
    """Events with distinct attributes; returns {name: seq} and a time between b and c."""
    coder = Actor("agent", "coder")
    made = {}
    made["a"] = audit_record(
        event_type="artifact.declared",
        actor=coder,
        provider="openai",
        task_type="code",
        project_id="proj_1",
        resource_type="artifact",
        resource_id="art_1",
    ).seq
    made["b"] = audit_record(
        event_type="artifact.transitioned",
        actor=Actor("agent", "tester"),
        provider="anthropic",
        task_type="test",
        project_id="proj_2",
        resource_type="artifact",
        resource_id="art_2",
    ).seq
    between = timezone.now()
    made["c"] = audit_record(
        event_type="artifacts.other", actor=Actor("user", "ann"), project_id="proj_1"
    ).seq
    made["d"] = audit_record(
        event_type="routing.veto",
        actor=coder,
        provider="openai",
        payload={"policy_violated": "no-external"},
    ).seq
    made["e"] = audit_record(
        event_type="routing.veto", actor=coder, provider="local", payload={"policy_violated": "pii"}
    ).seq
    made["f"] = audit_record(event_type="routing.veto", actor=SYSTEM, payload={}).seq
    return made, between
