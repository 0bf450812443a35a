"""auth.failed: recorded for rejected keys and JWTs, rate-limited per source IP + key prefix."""

from __future__ import annotations

from access import auth_failures as audit
from compliance.models import AuditEvent
from tests.compliance.conftest import events_after, last_seq
from tests.conftest import client_for, make_agent_key


def failures(start: int) -> list[AuditEvent]:
    return [event for event in events_after(start) if event.event_type == "auth.failed"]


def test_a_bad_key_is_recorded_without_the_key(org_a):
    start = last_seq()
    bad_key = "mq_" + "x" * 43
    response = client_for(org_a, key=bad_key).get("/api/v1/projects")
    assert response.status_code == 401
    [event] = failures(start)
    assert event.actor == "anonymous"
    assert event.resource_type == "credential" and event.resource_id == bad_key[:12]
    assert event.payload["credential"] == "api_key"
    assert event.payload["key_prefix"] == bad_key[:12]
    assert event.payload["source_ip"] == "127.0.0.1"
    assert event.payload["path"] == "/api/v1/projects"
    assert bad_key not in str(event.payload)
    assert len(event.request_id) == 32


def test_a_revoked_key_and_a_bad_jwt_are_recorded(org_a):
    from access.keys import agent_key_revoke

    key = make_agent_key(org_a, "retired")
    agent_key_revoke(prefix=key[:12])
    start = last_seq()
    assert client_for(org_a, key=key).get("/api/v1/projects").status_code == 401
    assert client_for(org_a, token="not.a.jwt").get("/api/v1/projects").status_code == 401
    api_key, jwt = failures(start)
    assert api_key.payload["key_prefix"] == key[:12]
    assert jwt.payload["credential"] == "jwt"
    assert jwt.payload["key_prefix"].startswith("jwt:")


def test_a_flood_of_one_bad_key_is_one_event_per_window(org_a, settings):
    # (the request rate limiter would answer 429 before authentication; this tests the trail's)
    settings.METAQORE_ENABLE_RATE_LIMIT = False
    start = last_seq()
    client = client_for(org_a, key="mq_" + "f" * 43)
    for _ in range(50):
        assert client.get("/api/v1/projects").status_code == 401
    assert len(failures(start)) == 1
    # another source IP with the same key is another event
    client.get("/api/v1/projects", REMOTE_ADDR="10.0.0.9")
    assert len(failures(start)) == 2


def test_a_flood_of_different_keys_is_capped_per_source(org_a, settings):
    settings.METAQORE_ENABLE_RATE_LIMIT = False
    start = last_seq()
    for index in range(audit.AUTH_FAILED_PER_IP + 15):
        key = f"mq_{index:09d}" + "z" * 34
        assert client_for(org_a, key=key).get("/api/v1/projects").status_code == 401
    recorded = failures(start)
    # the cap, plus one marker saying that more were suppressed
    assert len(recorded) == audit.AUTH_FAILED_PER_IP + 1
    assert "not recorded" in recorded[-1].payload["reason"]


def test_a_flood_from_many_sources_is_capped_per_org(org_a, monkeypatch, settings):
    settings.METAQORE_ENABLE_RATE_LIMIT = False
    monkeypatch.setattr(audit, "AUTH_FAILED_PER_ORG", 5)
    start = last_seq()
    for index in range(12):
        client_for(org_a, key="mq_" + "q" * 43).get(
            "/api/v1/projects", REMOTE_ADDR=f"10.1.0.{index}"
        )
    assert len(failures(start)) == 6


def test_no_credential_records_nothing(org_a):
    start = last_seq()
    assert client_for(org_a).get("/api/v1/projects").status_code == 401
    assert failures(start) == []
