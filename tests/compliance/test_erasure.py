"""Erasure: four eyes (a compliance officer requests, a different org admin approves), a job
redacts, the values leave every surface, and every verification still passes."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from access.actors import Actor
from access.roles import COMPLIANCE_OFFICER, ORG_ADMIN
from compliance.audit import audit_record
from compliance.checkpoints import checkpoint_if_moved
from compliance.erasure import erasure_execute
from compliance.evidence import evidence_chunks, evidence_prepare
from compliance.models import ERASURE_SETTING, AuditEvent, Erasure
from compliance.selectors import audit_chain_verify
from compliance.tasks import erasure_execute_job
from metaqore_client.evidence import verify_bundle
from tests.compliance.conftest import events_after, last_seq, raw_sql
from tests.conftest import client_for, make_user, user_token

ERASURES = "/api/v1/governance/compliance/erasures"
EMAIL = "jdoe@example.com"
XAVIER = Actor("agent", "xavier")


@pytest.fixture
def personal(org_a):
    """Events carrying personal data: by agent:xavier, and about him by someone else."""
    audit_record(event_type="task.updated", actor=XAVIER, payload={"contact": {"email": EMAIL}})
    audit_record(event_type="task.updated", actor=XAVIER, payload={"note": "second"})
    audit_record(event_type="agent_key.created", actor="user:adam", agent_name="xavier", payload={})
    audit_record(
        event_type="user.invited", actor="user:adam", payload={"contact": {"email": EMAIL}}
    )
    audit_record(event_type="task.updated", actor="agent:other", payload={"note": "kept"})
    checkpoint_if_moved()  # the erased events are already under a signed checkpoint


def dual_role_client(org):
    user = make_user(org, "dana", COMPLIANCE_OFFICER)
    user.groups.add(Group.objects.get(name=ORG_ADMIN))
    return client_for(org, token=user_token(org, user))


def request_erasure(officer, subject, reason="GDPR art. 17 request #12"):
    response = officer.post(ERASURES, {"subject": subject, "reason": reason}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def everything_visible(org_a, auditor) -> str:
    """Every surface an auditor or admin reads the trail through, as one text."""
    export = "/api/v1/governance/compliance/export"
    texts = [
        auditor.get("/api/v1/governance/compliance/audit", {"page_size": 200}).content,
        *(
            b"".join(auditor.get(export, {"format": fmt}).streaming_content)
            for fmt in ("jsonl", "csv", "json")
        ),
        auditor.get(ERASURES).content,
    ]
    root = get_user_model().objects.create_superuser("root", "", "pw-Secret-123")
    browser = Client(HTTP_HOST="alpha.localhost")
    browser.force_login(root)
    texts.append(browser.get("/dashboard/audit/").content)
    texts.append(browser.get("/dashboard/erasures/").content)
    for event in AuditEvent.objects.order_by("-seq")[:12]:
        page = f"/admin/compliance/auditevent/{admin_quote(event.pk)}/change/"
        texts.append(browser.get(page).content)
    with connection.cursor() as cursor:  # the tables themselves
        cursor.execute("SELECT string_agg(e::text, ' ') FROM compliance_auditevent e")
        texts.append(cursor.fetchone()[0].encode())
        cursor.execute("SELECT coalesce(string_agg(r::text, ' '), '') FROM compliance_erasure r")
        texts.append(cursor.fetchone()[0].encode())
    return b" ".join(texts).decode("utf-8", "replace")


def test_an_erasure_needs_two_different_people(personal, org_a, officer, org_admin):
    erasure = request_erasure(officer, "agent:xavier")
    assert erasure["status"] == "requested" and erasure["requested_by"] == "user:olivia"
    approve = f"{ERASURES}/{erasure['id']}/approve"
    assert officer.post(approve).status_code == 403  # an officer does not approve

    dana = dual_role_client(org_a)  # officer and admin: still one person
    own = request_erasure(dana, "agent:other")
    refused = dana.post(f"{ERASURES}/{own['id']}/approve")
    assert refused.status_code == 403 and refused.json()["code"] == "separation_of_duties"

    start = last_seq()
    approved = org_admin.post(approve)
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "user:adam"
    [event] = events_after(start)
    assert (event.event_type, event.actor) == ("compliance.erasure_approved", "user:adam")
    [job] = ProcrastinateJob.objects.filter(task_name="compliance.erasure_execute")
    assert job.args == {"org": org_a.schema_name, "erasure_id": erasure["id"]}
    assert org_admin.post(approve).status_code == 409  # approved once


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("xavier", "agent:<name>"),
        ({"field": "actor", "equals": "x"}, "payload."),
        ({"field": "payload.a", "equals": {"b": 1}}, "string, number or boolean"),
        ({"field": "payload.a"}, "agent:<name>"),
        ("user:bad\u0000name", "agent:<name>"),
        ({"field": "payload.a", "equals": "x\u0000"}, "without NUL"),
        ({"field": "payload.a", "equals": 10**30}, "a number within"),
    ],
)
def test_bad_subjects_are_400(org_a, officer, subject, message):
    response = officer.post(ERASURES, {"subject": subject, "reason": "r"}, format="json")
    assert response.status_code == 400 and message in response.json()["subject"][0]
    assert not Erasure.objects.exists()


@pytest.mark.parametrize("client_name", ["viewer", "auditor", "org_admin", "agent_client"])
def test_only_officers_request(org_a, request, client_name):
    client = request.getfixturevalue(client_name)
    body = {"subject": "agent:x", "reason": "r"}
    assert client.post(ERASURES, body, format="json").status_code == 403


def test_erasing_an_actor_removes_it_everywhere_and_verify_passes(
    personal, org_a, officer, org_admin, auditor, tmp_path
):
    erasure = request_erasure(officer, "agent:xavier")
    org_admin.post(f"{ERASURES}/{erasure['id']}/approve")
    start = last_seq()
    assert erasure_execute_job.task(org=org_a.schema_name, erasure_id=erasure["id"]) == 3

    redacted = AuditEvent.objects.filter(erasure_id=erasure["id"]).order_by("seq")
    assert [(e.actor, e.agent_name, e.payload, e.salt) for e in redacted] == [
        ("redacted", "", {}, ""),
        ("redacted", "", {}, ""),
        ("user:adam", "", {}, ""),  # about him, by someone else: his name goes
    ]
    [executed] = events_after(start)
    assert executed.event_type == "compliance.erasure_executed"
    assert executed.payload == {"subject_kind": "agent", "events_redacted": 3}
    row = Erasure.objects.get()
    assert row.status == "executed" and row.subject == {"subject_kind": "agent"}

    seen = everything_visible(org_a, auditor)
    assert "xavier" not in seen, seen[max(seen.find("xavier") - 300, 0) :][:600]
    listed = auditor.get("/api/v1/governance/compliance/audit", {"actor": "agent:xavier"})
    assert listed.json()["results"] == []
    detail = auditor.get(f"/api/v1/governance/compliance/audit/{redacted[0].id}").json()
    assert detail["redacted"] is True and detail["erasure_id"] == erasure["id"]

    assert audit_chain_verify().ok
    assert auditor.get("/api/v1/governance/compliance/verify").json()["ok"] is True
    bundle = tmp_path / "after.zip"
    bundle.write_bytes(b"".join(evidence_chunks(evidence_prepare(actor="system"))))
    report = verify_bundle(str(bundle))
    assert report.ok and report.redacted == 3, report.problems
    with zipfile.ZipFile(bundle) as archive:
        assert b"xavier" not in archive.read("events.jsonl")
    # retried job: nothing more happens
    assert erasure_execute_job.task(org=org_a.schema_name, erasure_id=erasure["id"]) == 3
    assert AuditEvent.objects.filter(event_type="compliance.erasure_executed").count() == 1


def test_erasing_a_payload_value(personal, org_a, officer, org_admin, auditor):
    subject = {"field": "payload.contact.email", "equals": EMAIL}
    erasure = request_erasure(officer, subject)
    requested = AuditEvent.objects.get(event_type="compliance.erasure_requested")
    assert requested.payload == {
        "subject_kind": "field",
        "field": "payload.contact.email",
        "reason": "GDPR art. 17 request #12",
    }
    org_admin.post(f"{ERASURES}/{erasure['id']}/approve")
    done = erasure_execute(erasure_id=erasure["id"])
    assert done.events_redacted == 2
    assert EMAIL not in everything_visible(org_a, auditor)
    kept = AuditEvent.objects.filter(actor="agent:xavier", erasure_id="").get()
    assert kept.payload == {"note": "second"}  # his other event, not named by this subject
    assert audit_chain_verify().ok

    # the actor of an event whose payload was already erased can still be erased
    second = request_erasure(officer, "agent:xavier")
    org_admin.post(f"{ERASURES}/{second['id']}/approve")
    assert erasure_execute(erasure_id=second["id"]).events_redacted == 3
    assert audit_chain_verify().ok


def test_the_database_refuses_a_redaction_outside_an_erasure(personal, org_a):
    event = AuditEvent.objects.filter(actor="agent:xavier").order_by("seq").first()
    blank = (
        "UPDATE compliance_auditevent SET payload = '{}', salt = '', erasure_id = %s WHERE id = %s"
    )
    with pytest.raises(DatabaseError, match="only redacted by an erasure"), transaction.atomic():
        raw_sql(blank, ["ers_forged", event.id])  # not declared
    with pytest.raises(DatabaseError, match="only redacted"), transaction.atomic():
        raw_sql("SELECT set_config(%s, 'ers_1', true)", [ERASURE_SETTING])
        raw_sql(blank.replace("salt = ''", "salt = 'kept'"), ["ers_1", event.id])
    with pytest.raises(DatabaseError, match="only redacted"), transaction.atomic():
        raw_sql("SELECT set_config(%s, 'ers_1', true)", [ERASURE_SETTING])
        raw_sql(blank.replace("payload = '{}'", "hash = 'x'"), ["ers_1", event.id])
    assert AuditEvent.objects.get(pk=event.pk).payload == {"contact": {"email": EMAIL}}


def test_an_unapproved_erasure_does_not_run(personal, org_a, officer):
    erasure = request_erasure(officer, "agent:xavier")
    with pytest.raises(Exception, match="not been approved"):
        erasure_execute(erasure_id=erasure["id"])
    assert not AuditEvent.objects.exclude(erasure_id="").exists()
    assert json.dumps(Erasure.objects.values("subject").get()["subject"]) == (
        '{"actor": "agent:xavier"}'
    )


def test_the_runtime_role_erases_through_the_definer_function_only(
    personal, org_a, officer, org_admin, runtime_role
):
    """As the role the server and workers use: no UPDATE of events of its own, the erasure
    still redacts (through ``metaqore_audit_erase``) and the chain still verifies."""
    event = AuditEvent.objects.filter(actor="agent:xavier").order_by("seq").first()
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        raw_sql("SELECT set_config(%s, 'ers_1', true)", [ERASURE_SETTING])
        raw_sql(
            "UPDATE compliance_auditevent SET payload = '{}', salt = '', erasure_id = 'ers_1' "
            "WHERE id = %s",
            [event.id],
        )
    erasure = request_erasure(officer, "agent:xavier")
    with pytest.raises(DatabaseError, match="not an approved erasure"), transaction.atomic():
        raw_sql("SELECT metaqore_audit_erase(%s)", [erasure["id"]])  # requested, not approved
    assert org_admin.post(f"{ERASURES}/{erasure['id']}/approve").status_code == 200
    assert erasure_execute(erasure_id=erasure["id"]).events_redacted == 3
    assert AuditEvent.objects.filter(erasure_id=erasure["id"]).count() == 3
    assert not AuditEvent.objects.filter(actor="agent:xavier").exists()
    assert audit_chain_verify().ok
