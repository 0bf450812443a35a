"""The policy's rules, its revisions and restore, and the decision log over the API."""

import pytest
from django.db import DatabaseError, connection, transaction

from compliance.models import AuditEvent
from governance.models import AdmissionDecision, GovernancePolicy, PolicyRevision
from metaqore_site.errors import GovernanceBypassError
from tests.artifacts.conftest import declare
from tests.governance.conftest import rule

RULES = "/api/v1/governance/policy"


def test_patch_rules_and_read_them_back(org_admin, org_a):
    rules = [rule("docs-dryrun", "dryrun", artifact_types=["docs*"], min_severity="medium")]
    response = org_admin.patch(RULES, {"rules": rules})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["revision"] == 2
    assert body["max_waiver_days"] == 30
    (stored,) = body["rules"]
    assert stored["id"] == "docs-dryrun" and stored["action"] == "dryrun"
    assert stored["match"] == {"artifact_types": ["docs*"], "min_severity": "medium"}
    assert (stored["author"], stored["author_is_org_admin"]) == ("user:adam", True)
    assert org_admin.get(RULES).json()["rules"] == body["rules"]
    event = AuditEvent.objects.filter(event_type="policy.changed").order_by("-seq").first()
    assert event.payload["rules_diff"] == {
        "added": ["docs-dryrun"],
        "removed": [],
        "changed": [],
        "reordered": False,
    }
    # Sending the rules back as read (author fields included) changes nothing.
    again = org_admin.patch(RULES, {"rules": body["rules"]})
    assert again.status_code == 200 and again.json()["revision"] == 2


def test_invalid_rules_are_400_naming_rule_and_field(org_admin, org_a):
    bad = [rule("ok", "warn"), rule("second", "warn", min_severity="urgent"), {"action": "x"}]
    response = org_admin.patch(RULES, {"rules": bad})
    assert response.status_code == 400
    errors = response.json()["rules"]
    assert "match.min_severity" in errors["second"]
    assert set(errors["#3"]) == {"id", "action"}
    assert "ok" not in errors
    assert GovernancePolicy.load().rules == []
    assert org_admin.patch(RULES, {"rules": "nope"}).status_code == 400
    assert org_admin.patch(RULES, {"rules": [rule("a\x00", "warn")]}).status_code == 400
    assert org_admin.patch(RULES, {"max_waiver_days": 0}).status_code == 400


def test_only_org_admins_write_rules(officer, viewer, agent_client, org_a):
    body = {"rules": [rule("a", "warn")]}
    for client in (officer, viewer, agent_client):
        assert client.patch(RULES, body).status_code == 403
    assert GovernancePolicy.load().rules == []


def test_declaration_body_carries_decision_rule_and_action(org_admin, coder, tester, project):
    org_admin.patch(RULES, {"rules": [rule("warn-code", "warn", artifact_types=["code"])]})
    assert declare(coder, project).status_code == 201
    response = declare(tester, project)
    assert response.status_code == 201, response.json()
    governance = response.json()["governance"]
    assert governance["outcome"] == "accepted_with_warnings"
    (conflict,) = governance["conflicts"]
    assert (conflict["rule_id"], conflict["action"]) == ("warn-code", "warn")
    assert conflict["decision_id"] == governance["decision_id"]

    listed = org_admin.get("/api/v1/governance/decisions?rule=warn-code").json()
    assert [d["id"] for d in listed["results"]] == [governance["decision_id"]]
    decision = listed["results"][0]
    assert decision["policy_revision"] == 2 and decision["outcome"] == "accepted_with_warnings"
    assert decision["conflicts"][0]["rule_id"] == "warn-code"
    assert decision["agent"] == "agent:tester"


def test_dryrun_conflicts_are_not_shown_to_the_agent(org_admin, coder, tester, project):
    org_admin.patch(RULES, {"rules": [rule("watch", "dryrun")]})
    declare(coder, project)
    response = declare(tester, project)
    assert response.status_code == 201
    governance = response.json()["governance"]
    assert (governance["outcome"], governance["conflicts"], governance["remediation"]) == (
        "accepted",
        [],
        [],
    )
    conflicts = org_admin.get("/api/v1/governance/conflicts?status=dryrun").json()["results"]
    assert [(c["rule_id"], c["action"]) for c in conflicts] == [("watch", "dryrun")]
    resolve = org_admin.post(
        f"/api/v1/governance/conflicts/{conflicts[0]['id']}/resolve", {"strategy": "override"}
    )
    assert resolve.status_code == 409 and resolve.json()["code"] == "dryrun_conflict"


def test_decision_filters(org_admin, coder, tester, project):
    declare(coder, project)
    blocked = declare(tester, project)
    assert blocked.status_code == 409
    url = "/api/v1/governance/decisions"
    assert org_admin.get(url).json()["count"] == 2
    only_blocked = org_admin.get(f"{url}?outcome=blocked").json()["results"]
    assert [d["id"] for d in only_blocked] == [blocked.json()["governance"]["decision_id"]]
    assert org_admin.get(f"{url}?project={project.id}").json()["count"] == 2
    assert org_admin.get(f"{url}?project=proj_nope").json()["count"] == 0
    assert org_admin.get(f"{url}?waiver=wvr_nope").json()["count"] == 0
    assert org_admin.get(f"{url}?since=2999-01-01T00:00:00Z").json()["count"] == 0
    assert org_admin.get(f"{url}?since=yesterday").status_code == 400
    # Offsets PostgreSQL refuses (beyond ±15:59) are read in UTC, not passed through (was a 500)
    assert org_admin.get(f"{url}?since=0332-03-09T18:55:09%2B16:43").json()["count"] == 2
    assert org_admin.get(f"{url}?since=9999-12-31T23:59:59-10:00").status_code == 400
    assert org_admin.get(f"{url}?outcome=maybe").status_code == 400
    detail = org_admin.get(f"{url}/{only_blocked[0]['id']}")
    assert detail.status_code == 200 and detail.json()["outcome"] == "blocked"
    assert org_admin.get(f"{url}/adm_missing").status_code == 404
    assert org_admin.post(url, {}).status_code in (403, 405)


def test_decision_log_is_append_only(coder, project):
    declare(coder, project)
    decision = AdmissionDecision.objects.get()
    rows = AdmissionDecision.objects.filter(pk=decision.pk)
    with pytest.raises(GovernanceBypassError, match=r"artifacts\.services"):
        rows.update(outcome="blocked")
    with pytest.raises(GovernanceBypassError):
        rows.delete()
    table = AdmissionDecision._meta.db_table
    for sql in (f"UPDATE {table} SET outcome = 'blocked'", f"DELETE FROM {table}"):
        with (
            pytest.raises(DatabaseError, match="admission_decision_append_only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AdmissionDecision.objects.get().outcome == "accepted"


def test_revisions_and_restore(org_admin, org_a):
    org_admin.patch(RULES, {"mode": "adaptive"})
    org_admin.patch(RULES, {"rules": [rule("a", "warn")]})
    org_admin.patch(RULES, {"mode": "playground", "rules": []})
    revisions = org_admin.get(f"{RULES}/revisions").json()["results"]
    assert [r["number"] for r in revisions] == [4, 3, 2, 1]
    assert revisions[0]["created_by"] == "user:adam"
    assert revisions[0]["changes"]["before"] == {
        "mode": "adaptive",
        "rules": revisions[1]["snapshot"]["rules"],
    }
    assert revisions[0]["changes"]["rules_diff"]["removed"] == ["a"]
    assert revisions[3]["snapshot"]["mode"] == "strict"

    restored = org_admin.post(f"{RULES}/revisions/3/restore")
    assert restored.status_code == 200, restored.json()
    body = restored.json()
    assert (body["revision"], body["mode"], [r["id"] for r in body["rules"]]) == (
        5,
        "adaptive",
        ["a"],
    )
    newest = PolicyRevision.objects.get(number=5)
    assert newest.restored_from == 3
    assert {k: v for k, v in newest.snapshot.items()} == PolicyRevision.objects.get(
        number=3
    ).snapshot
    event = AuditEvent.objects.filter(event_type="policy.changed").order_by("-seq").first()
    assert event.payload["restored_from"] == 3
    # Restoring the current revision makes no new one.
    again = org_admin.post(f"{RULES}/revisions/5/restore")
    assert again.status_code == 200 and again.json()["revision"] == 5
    assert org_admin.post(f"{RULES}/revisions/99/restore").status_code == 404
    assert org_admin.get(f"{RULES}/revisions/abc").status_code == 404


def test_if_match_refuses_a_stale_revision(org_admin, org_a):
    assert org_admin.patch(RULES, {"mode": "adaptive"}, HTTP_IF_MATCH="1").status_code == 200
    stale = org_admin.patch(RULES, {"mode": "playground"}, HTTP_IF_MATCH='"1"')
    assert stale.status_code == 409
    assert (stale.json()["code"], stale.json()["revision"]) == ("stale_revision", 2)
    assert org_admin.patch(RULES, {"mode": "playground"}, HTTP_IF_MATCH="x").status_code == 400
    assert org_admin.patch(RULES, {"mode": "playground"}, HTTP_IF_MATCH="2").status_code == 200
    assert GovernancePolicy.load().mode == "playground"
