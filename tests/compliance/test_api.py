"""The audit API: filters, cursor pages, permissions and verification (exports:
test_exports_api.py)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.actors import SYSTEM
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from compliance.audit import audit_record
from compliance.models import AuditEvent
from tests.compliance.conftest import (
    disable_audit_triggers,
    last_seq,
    raw_sql,
    user_client,
)
from tests.conftest import client_for, use_org

AUDIT = "/api/v1/governance/compliance/audit"
EXPORT = "/api/v1/governance/compliance/export"
VERIFY = "/api/v1/governance/compliance/verify"


def seqs(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [event["seq"] for event in response.json()["results"]]


# permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AUDIT, EXPORT + "?format=jsonl", VERIFY])
def test_plain_agent_and_viewer_are_forbidden(org_a, agent_client, path):
    assert agent_client.get(path).status_code == 403
    assert user_client(org_a, "vic", VIEWER).get(path).status_code == 403
    assert client_for(org_a).get(path).status_code == 401


@pytest.mark.parametrize("role", [AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN])
def test_audit_roles_may_read_export_and_verify(org_a, role):
    client = user_client(org_a, "reader", role)
    for path in (AUDIT, AUDIT + "/", EXPORT + "?format=jsonl", EXPORT + "/?format=csv", VERIFY):
        response = client.get(path)
        assert response.status_code == 200, (path, response.content)


def test_privileged_clients_may_read(org_a, privileged_client, settings):
    assert privileged_client.get(AUDIT).status_code == 200
    assert privileged_client.get(VERIFY).status_code == 200
    # the operator's shared-secret header elevates agent keys only, never a viewer's JWT
    settings.METAQORE_PRIVILEGED_TOKEN = "s3cret-token"
    viewer = user_client(org_a, "vic", VIEWER)
    refused = viewer.get(AUDIT, HTTP_X_METAQORE_PRIVILEGED="s3cret-token")
    assert refused.status_code == 403
    assert refused["X-MetaQore-Privileged"] == "ignored"
    assert viewer.get(AUDIT, HTTP_X_METAQORE_PRIVILEGED="wrong").status_code == 403


def test_other_orgs_events_are_invisible(org_a, org_b, auditor_client):
    use_org(org_b)
    secret = audit_record(event_type="x.secret", actor=SYSTEM)
    use_org(org_a)
    body = auditor_client.get(AUDIT + "?event_type=x.secret").json()
    assert body["results"] == []
    assert auditor_client.get(f"{AUDIT}/{secret.id}").status_code == 404


# list and filters ----------------------------------------------------------------------------


def test_list_is_newest_first_with_chain_fields(auditor_client, sample):
    body = auditor_client.get(AUDIT).json()
    assert set(body) == {"next", "previous", "results"}
    first = body["results"][0]
    assert first["seq"] == last_seq()
    assert set(first) >= {"id", "seq", "timestamp", "hash", "prev_hash", "payload", "actor"}
    assert body["results"][1]["hash"] == first["prev_hash"]
    single = auditor_client.get(f"{AUDIT}/{first['id']}").json()
    assert single == first
    for unknown in ("evt_0", "xyz", "evt_%00"):
        response = auditor_client.get(f"{AUDIT}/{unknown}/")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event_type": "artifact.declared"}, ["a"]),
        ({"event_type": "artifact.*"}, ["b", "a"]),
        ({"event_type": "routing.veto"}, ["f", "e", "d"]),
        ({"actor": "agent:coder"}, ["e", "d", "a"]),
        ({"actor": "user:ann"}, ["c"]),
        ({"agent_name": "tester"}, ["b"]),
        ({"provider": "openai"}, ["d", "a"]),
        ({"task_type": "test"}, ["b"]),
        ({"project_id": "proj_1"}, ["c", "a"]),
        ({"resource_id": "art_2"}, ["b"]),
        ({"resource_type": "artifact"}, ["b", "a"]),
        ({"provider": "openai", "event_type": "routing.*"}, ["d"]),
        ({"event_type": "nothing.*"}, []),
    ],
)
def test_each_filter(auditor_client, sample, params, expected):
    made, _between = sample
    response = auditor_client.get(f"{AUDIT}?{urlencode(params)}")
    assert seqs(response) == [made[name] for name in expected]


def test_since_and_until(auditor_client, sample):
    made, between = sample
    after = seqs(auditor_client.get(AUDIT, {"since": between.isoformat(), "page_size": 200}))
    assert after == [made[name] for name in "fedc"]
    # `Z` suffix, and a `+` that arrived as a space because the client did not encode it
    before_z = between.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    before = seqs(auditor_client.get(AUDIT, {"until": before_z, "page_size": 200}))
    assert before[:2] == [made["b"], made["a"]] and made["c"] not in before
    spaced = between.isoformat().replace("+", " ")
    assert seqs(auditor_client.get(f"{AUDIT}?until={spaced}&page_size=200")) == before
    window = {"since": between.isoformat(), "until": timezone.now().isoformat()}
    assert seqs(auditor_client.get(AUDIT, window)) == after
    assert seqs(auditor_client.get(AUDIT, {"since": "2999-01-01"})) == []


@pytest.mark.parametrize(
    "query",
    ["since=yesterday", "until=2024-13-01", "event_type=" + "x" * 101, "actor=a%00b"],
)
def test_bad_filters_are_400(auditor_client, query):
    for path in (f"{AUDIT}?{query}", f"{EXPORT}?format=csv&{query}"):
        response = auditor_client.get(path)
        assert response.status_code == 400, response.content
        assert isinstance(response.json(), dict)


def test_cursor_pages_walk_every_event_once(auditor_client, org_a):
    for index in range(7):
        audit_record(event_type="page.test", actor=SYSTEM, payload={"i": index})
    seen, url = [], f"{AUDIT}?event_type=page.test&page_size=3"
    while url:
        body = auditor_client.get(url).json()
        seen += [event["payload"]["i"] for event in body["results"]]
        url = body["next"]
    assert seen == [6, 5, 4, 3, 2, 1, 0]


def test_list_is_one_query_whatever_the_page_size(auditor_client, sample):
    def audit_queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert auditor_client.get(url).status_code == 200
        sqls = [query["sql"] for query in captured.captured_queries]
        return len(sqls), [sql for sql in sqls if "compliance_" in sql]

    small_total, small = audit_queries(AUDIT + "?page_size=2")
    large_total, large = audit_queries(AUDIT + "?page_size=200")
    assert len(small) == len(large) == 1  # no count(*), no per-row queries
    assert small_total == large_total


# verify --------------------------------------------------------------------------------------


def test_verify_intact(auditor_client, sample):
    body = auditor_client.get(VERIFY).json()
    assert body == {
        "ok": True,
        "kind": "incremental",
        "from_seq": 1,  # no run passed before: from the genesis
        "through_seq": last_seq(),
        "events_checked": last_seq(),
        "checkpoints_checked": 0,
        "first_bad_seq": None,
        "head_hash": AuditEvent.objects.get(seq=last_seq()).hash,
        "reason": None,
        "verification_id": body["verification_id"],
        "unaudited_changes": [],
    }


def test_verify_tampered_payload(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    raw_sql(
        'UPDATE compliance_auditevent SET payload = \'{"policy_violated": "none"}\' WHERE seq = %s',
        [made["d"]],
    )
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["d"]
    assert body["events_checked"] == made["d"]
    assert "hash" in body["reason"]


def test_verify_deleted_row(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    raw_sql("DELETE FROM compliance_auditevent WHERE seq = %s", [made["b"]])
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["b"]
    assert "missing" in body["reason"]


def test_verify_deleted_tail(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    raw_sql("DELETE FROM compliance_auditevent WHERE seq >= %s", [made["e"]])
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["e"]


def test_verify_reordered_rows(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    # swap the seq of two events (through a free value: seq is unique)
    b, c = made["b"], made["c"]
    raw_sql("UPDATE compliance_auditevent SET seq = -1 WHERE seq = %s", [b])
    raw_sql("UPDATE compliance_auditevent SET seq = %s WHERE seq = %s", [b, c])
    raw_sql("UPDATE compliance_auditevent SET seq = %s WHERE seq = -1", [c])
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == b


def test_verify_row_appended_behind_the_services_back(auditor_client, sample):
    made, _ = sample
    raw_sql(
        "INSERT INTO compliance_auditevent (id, seq, timestamp, event_type, organization, actor,"
        " agent_name, provider, task_type, project_id, resource_type, resource_id, request_id,"
        " payload, prev_hash, hash) SELECT 'evt_forged', seq + 1, timestamp, event_type,"
        " organization, actor, agent_name, provider, task_type, project_id, resource_type,"
        " resource_id, request_id, payload, hash, hash FROM compliance_auditevent WHERE seq = %s",
        [made["f"]],
    )
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["f"] + 1
