"""Waivers: creation limits, use before rules (counted, audited), expiry and revocation with
time moved by passing ``now`` (no sleeping), the expiry record, roles, and the API."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from access.actors import Actor
from artifacts.models import Conflict
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from governance.models import AdmissionDecision, Waiver
from governance.tasks import expire_waivers
from governance.waivers import waiver_create, waiver_revoke, waivers_expire
from metaqore_site.errors import GovernanceBlocked, GovernanceForbidden
from tests.conftest import make_user
from tests.governance.conftest import ADMIN, CODER, OFFICER, TESTER, rule, set_policy

T0 = timezone.now().replace(microsecond=0)


def grant(now=T0, days=2, **match):
    return waiver_create(
        actor=OFFICER,
        match=match or {"agents": ["tester"]},
        justification="pilot of the tester agent",
        expires_at=now + timedelta(days=days),
        now=now,
    )


def parallel(project, now=None, artifact_type="code"):
    """The tester's declaration after the coder's: one HIGH parallel_creation conflict."""
    artifact_declare(actor=CODER, project=project, artifact_type=artifact_type, data={})
    return artifact_declare(
        actor=TESTER, project=project, artifact_type=artifact_type, data={}, now=now
    )


def test_creation_is_audited_and_bounded(org_a):
    waiver = grant()
    assert waiver.id.startswith("wvr_")
    event = AuditEvent.objects.get(event_type="waiver.created", resource_id=waiver.id)
    assert event.actor == "user:olivia"
    assert event.payload["match"] == {"agents": ["tester"]}
    with pytest.raises(ValidationError) as too_long:
        grant(days=31)
    assert "expires_at" in too_long.value.message_dict
    set_policy(max_waiver_days=60)
    assert grant(days=45).expires_at == T0 + timedelta(days=45)
    for bad in (
        {"match": {}},
        {"match": {"colour": ["x"]}},
        {"justification": "  "},
        {"expires_at": T0 - timedelta(minutes=1)},
    ):
        fields = {
            "match": {"agents": ["a"]},
            "justification": "why",
            "expires_at": T0 + timedelta(days=1),
            **bad,
        }
        with pytest.raises(ValidationError):
            waiver_create(actor=OFFICER, now=T0, **fields)


def test_roles(org_a):
    for actor in (
        Actor("user", "aud", roles=frozenset({"auditor"})),
        Actor("user", "vic", roles=frozenset({"viewer"})),
        Actor("agent", "studio", is_privileged=True),
    ):
        with pytest.raises(GovernanceForbidden):
            waiver_create(
                actor=actor,
                match={"agents": ["x"]},
                justification="j",
                expires_at=T0 + timedelta(days=1),
                now=T0,
            )
    assert waiver_create(
        actor=ADMIN, match={"agents": ["x"]}, justification="j", expires_at=T0 + timedelta(days=1)
    )


def test_a_waiver_resolves_matching_conflicts_before_rules(project, org_a):
    set_policy(rules=[rule("everything", "enforce")])
    waiver = grant(now=T0)
    result = parallel(project, now=T0 + timedelta(hours=1))
    assert result.outcome == "accepted" and not result.artifact.is_blocked
    (conflict,) = result.conflicts
    assert (conflict.status, conflict.resolution_strategy, conflict.action) == (
        "resolved",
        "waived",
        "waived",
    )
    assert conflict.details["waiver_id"] == waiver.id
    assert conflict.resolved_by == f"waiver:{waiver.id}"
    waiver.refresh_from_db()
    assert waiver.use_count == 1
    used = AuditEvent.objects.get(event_type="waiver.used", resource_id=waiver.id)
    assert used.payload == {"conflict_id": conflict.id, "artifact_id": result.artifact.id}
    resolved = AuditEvent.objects.get(event_type="conflict.resolved", resource_id=conflict.id)
    assert resolved.payload["strategy"] == "waived" and resolved.payload["waiver_id"] == waiver.id
    decision = AdmissionDecision.objects.get(pk=result.decision_id)
    assert decision.conflicts[0]["waiver_id"] == waiver.id
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org_a, "vic", "viewer"))
    page = client.get("/dashboard/decisions/", {"waiver": waiver.id}).content.decode()
    assert page.count('data-decision="') == 1 and result.decision_id in page


def test_a_waiver_only_covers_what_it_matches(project):
    grant(now=T0, artifact_types=["docs"])
    result = parallel(project, now=T0 + timedelta(hours=1))
    assert result.outcome == "blocked"
    assert Waiver.objects.get().use_count == 0


def test_no_waiver_applies_after_expiry(project):
    waiver = grant(now=T0, days=1)
    assert parallel(project, now=T0 + timedelta(hours=23)).outcome == "accepted"
    after = parallel(project, now=T0 + timedelta(days=1), artifact_type="plan")
    assert after.outcome == "blocked"
    assert after.conflicts[0].status == Conflict.Status.OPEN
    waiver.refresh_from_db()
    assert waiver.use_count == 1


def test_no_waiver_applies_after_revocation(project):
    waiver = grant(now=T0)
    revoked = waiver_revoke(
        waiver=waiver, actor=ADMIN, reason="pilot over", now=T0 + timedelta(hours=2)
    )
    assert (revoked.revoked_by, revoked.revoke_reason) == ("user:adam", "pilot over")
    event = AuditEvent.objects.get(event_type="waiver.revoked", resource_id=waiver.id)
    assert event.payload == {"reason": "pilot over", "uses": 0}
    assert parallel(project, now=T0 + timedelta(hours=1)).outcome == "accepted"  # before
    later = parallel(project, now=T0 + timedelta(hours=3), artifact_type="plan")
    assert later.outcome == "blocked"
    with pytest.raises(GovernanceBlocked):
        waiver_revoke(waiver=waiver, actor=ADMIN, now=T0 + timedelta(hours=4))


def test_expiry_is_recorded_once(org_a):
    first, second = grant(now=T0, days=1), grant(now=T0, days=3)
    assert waivers_expire(now=T0 + timedelta(hours=12)) == []
    assert waivers_expire(now=T0 + timedelta(days=1)) == [first.id]
    assert waivers_expire(now=T0 + timedelta(days=2)) == []
    events = AuditEvent.objects.filter(event_type="waiver.expired")
    assert [e.resource_id for e in events] == [first.id]
    with pytest.raises(GovernanceBlocked):
        waiver_revoke(waiver=first, actor=ADMIN, now=T0 + timedelta(days=2))
    assert second.status_at(T0 + timedelta(days=2)) == "active"
    assert first.status_at(T0 + timedelta(days=2)) == "expired"


def test_expire_command(org_a):
    waiver = waiver_create(
        actor=OFFICER,
        match={"agents": ["x"]},
        justification="j",
        expires_at=timezone.now() + timedelta(seconds=1),
        now=timezone.now() - timedelta(days=1),
    )
    call_command("expire_waivers", "--org", org_a.slug, "--now", "2999-01-01T00:00:00Z")
    waiver.refresh_from_db()
    assert waiver.expiry_recorded
    event = AuditEvent.objects.get(event_type="waiver.expired", resource_id=waiver.id)
    assert event.actor == "system"
    with pytest.raises(CommandError):
        call_command("expire_waivers", "--org", org_a.slug, "--now", "tomorrow")


# --- API ---------------------------------------------------------------------------------------

URL = "/api/v1/governance/waivers"


def test_api_create_list_revoke(officer, viewer, org_a):
    expires = (timezone.now() + timedelta(days=5)).isoformat()
    body = {"match": {"agents": ["tester"]}, "justification": "pilot", "expires_at": expires}
    created = officer.post(URL, body)
    assert created.status_code == 201, created.json()
    waiver = created.json()
    assert waiver["id"].startswith("wvr_") and waiver["status"] == "active"
    assert waiver["created_by"] == "user:olivia" and waiver["use_count"] == 0
    soon = officer.post(
        URL, {**body, "expires_at": (timezone.now() + timedelta(days=1)).isoformat()}
    )
    listed = viewer.get(URL).json()["results"]
    assert [w["id"] for w in listed] == [soon.json()["id"], waiver["id"]]  # expiring soon first
    assert viewer.get(f"{URL}?status=active").json()["count"] == 2
    assert viewer.post(f"{URL}/{waiver['id']}/revoke", {}).status_code == 403
    revoked = officer.post(f"{URL}/{waiver['id']}/revoke", {"reason": "done"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert officer.post(f"{URL}/{waiver['id']}/revoke", {}).status_code == 409
    assert [w["id"] for w in viewer.get(f"{URL}?status=revoked").json()["results"]] == [
        waiver["id"]
    ]
    assert viewer.get(f"{URL}?status=active").json()["count"] == 1
    assert viewer.get(f"{URL}?status=expired").json()["count"] == 0
    assert viewer.get(f"{URL}?status=soon").status_code == 400
    assert officer.get(f"{URL}/wvr_missing").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "3000-01-01T00:00:00Z"}, "expires_at"),
        ({"match": {}}, "match"),
        ({"match": {"min_severity": "huge"}}, "match"),
        ({"match": ["x"]}, "match"),
        ({"justification": ""}, "justification"),
    ],
)
def test_api_bad_input_is_400(officer, org_a, change, field):
    body = {
        "match": {"agents": ["tester"]},
        "justification": "pilot",
        "expires_at": (timezone.now() + timedelta(days=5)).isoformat(),
        **change,
    }
    body = {key: value for key, value in body.items() if value is not None}
    response = officer.post(URL, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not Waiver.objects.exists()


def test_expiry_task_runs_in_the_org(org_a):
    waiver = waiver_create(
        actor=OFFICER,
        match={"agents": ["x"]},
        justification="j",
        expires_at=timezone.now() - timedelta(seconds=1),
        now=timezone.now() - timedelta(days=1),
    )
    assert expire_waivers.run_now() == 1
    assert expire_waivers.run_now() == 0
    waiver.refresh_from_db()
    assert waiver.expiry_recorded


def test_admin_lists_and_revokes_waivers(org_a):
    waiver = grant(now=timezone.now())
    officer = make_user(org_a, "olivia2", "compliance_officer")
    officer.is_staff = True  # as create_user makes every org user
    officer.save(update_fields=["is_staff"])
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(officer)
    assert client.get("/admin/governance/waiver/").status_code == 200
    assert client.get("/admin/governance/admissiondecision/").status_code == 200
    assert client.get("/admin/governance/policyrevision/").status_code == 200
    assert client.get("/admin/governance/waiver/add/").status_code == 403
    response = client.post(
        "/admin/governance/waiver/",
        {"action": "revoke_waivers", "_selected_action": [waiver.id]},
    )
    assert response.status_code == 302
    waiver.refresh_from_db()
    assert waiver.revoked_by == "user:olivia2"
    assert AuditEvent.objects.filter(event_type="waiver.revoked", resource_id=waiver.id).exists()
