"""The Erasures page: who sees it, request (officer) → approve (a different org admin) →
executed by the job, all through compliance.erasure's services; bad input is a 400 with the
field's error and stores nothing; the erased value is gone from the page once executed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from procrastinate.contrib.django.models import ProcrastinateJob

from access.actors import Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from compliance.audit import audit_record
from compliance.models import AuditEvent, Erasure
from compliance.tasks import erasure_execute_job
from tests.conftest import make_user

PAGE = "/dashboard/erasures/"
EMAIL = "jdoe@example.com"


def login(org, username: str, role: str, *more_roles: str) -> Client:
    user = make_user(org, username, role)
    for extra in more_roles:
        user.groups.add(Group.objects.get(name=extra))
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    return client


@pytest.fixture
def personal(org_a):
    xavier = Actor("agent", "xavier")
    audit_record(event_type="task.updated", actor=xavier, payload={"contact": {"email": EMAIL}})
    audit_record(event_type="task.updated", actor=xavier, payload={"note": "second"})
    audit_record(event_type="user.invited", actor="user:adam", payload={"email": EMAIL})


@pytest.mark.parametrize(
    ("role", "status"), [(ORG_ADMIN, 200), (COMPLIANCE_OFFICER, 200), (AUDITOR, 200), (VIEWER, 403)]
)
def test_who_sees_the_page(org_a, role, status):
    client = login(org_a, f"u-{role}", role)
    assert client.get(PAGE).status_code == status
    overview = client.get("/dashboard/").content.decode()
    assert (f'href="{PAGE}"' in overview) is (status == 200)


def test_request_approve_execute(org_a, personal):
    officer = login(org_a, "olga", COMPLIANCE_OFFICER)
    requested = officer.post(
        PAGE,
        {
            "subject_kind": "actor",
            "actor": "agent:xavier",
            "equals_type": "text",
            "reason": "GDPR art. 17 request #12",
        },
    )
    assert requested.status_code == 302
    erasure = Erasure.objects.get()
    assert (erasure.subject, erasure.status, erasure.requested_by) == (
        {"actor": "agent:xavier"},
        Erasure.REQUESTED,
        "user:olga",
    )
    assert AuditEvent.objects.filter(
        event_type="compliance.erasure_requested", resource_id=erasure.id
    ).exists()
    page = officer.get(PAGE).content.decode()
    assert "every event of agent:xavier" in page and "Erasure requested" in page
    assert 'name="approve"' not in page  # an officer does not approve
    assert officer.post(PAGE, {"approve": erasure.id}).status_code == 403

    admin = login(org_a, "adam", ORG_ADMIN)
    assert f'name="approve" value="{erasure.id}"' in admin.get(PAGE).content.decode()
    assert admin.post(PAGE, {"approve": erasure.id}).status_code == 302
    erasure.refresh_from_db()
    assert (erasure.status, erasure.approved_by) == (Erasure.APPROVED, "user:adam")
    [job] = ProcrastinateJob.objects.filter(task_name="compliance.erasure_execute")
    assert job.args["erasure_id"] == erasure.id
    assert f'name="approve" value="{erasure.id}"' not in admin.get(PAGE).content.decode()

    assert erasure_execute_job.task(org=org_a.schema_name, erasure_id=erasure.id) == 2
    page = admin.get(PAGE).content.decode()
    row = page[page.index(f'data-erasure="{erasure.id}"') :]
    assert "badge-erasure-executed" in row[:2000] and "agent:xavier" not in page
    assert "every event of an agent (name erased)" in row[:2000]


def test_a_payload_value_and_its_type(org_a, personal):
    officer = login(org_a, "olga", COMPLIANCE_OFFICER)
    base = {"subject_kind": "field", "field": "payload.contact.email", "reason": "ticket 7"}
    assert officer.post(PAGE, {**base, "equals": EMAIL, "equals_type": "text"}).status_code == 302
    assert officer.post(PAGE, {**base, "equals": "42", "equals_type": "number"}).status_code == 302
    assert (
        officer.post(PAGE, {**base, "equals": "TRUE", "equals_type": "boolean"}).status_code == 302
    )
    subjects = [e.subject["equals"] for e in Erasure.objects.order_by("requested_at")]
    assert subjects == [EMAIL, 42, True] and isinstance(subjects[1], int)
    page = officer.get(PAGE).content.decode()
    assert "events whose payload.contact.email equals &#x27;jdoe@example.com&#x27;" in page
    [first] = [e for e in Erasure.objects.all() if e.subject["equals"] == EMAIL]
    assert login(org_a, "adam", ORG_ADMIN).post(PAGE, {"approve": first.id}).status_code == 302
    assert erasure_execute_job.task(org=org_a.schema_name, erasure_id=first.id) == 1
    page = officer.get(PAGE).content.decode()
    assert EMAIL not in page and "events by their payload.contact.email (value erased)" in page


def by_field(equals: str, equals_type: str = "text", field: str = "payload.a") -> dict:
    return {"subject_kind": "field", "field": field, "equals": equals, "equals_type": equals_type}


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"subject_kind": "actor", "actor": "xavier"}, "actor", "agent:&lt;name&gt;"),
        ({"subject_kind": "actor", "actor": ""}, "actor", "Name the actor"),
        (by_field("x", field="email"), "field", "payload.&lt;key&gt;"),
        (by_field(""), "equals", "Give the value"),
        (by_field("many", "number"), "equals", "Give a number"),
        (by_field("nan", "number"), "equals", "finite"),
        (by_field("yes", "boolean"), "equals", "true or false"),
        ({"subject_kind": "actor", "actor": "user:bob", "reason": ""}, "reason", "required"),
    ],
)
def test_bad_input_is_a_400_on_the_field_and_stores_nothing(org_a, given, field, message):
    officer = login(org_a, "olga", COMPLIANCE_OFFICER)
    response = officer.post(PAGE, {"equals_type": "text", "reason": "ticket 7", **given})
    assert response.status_code == 400
    body = response.content.decode()
    cell = body[body.index(f'data-field="{field}"') :]
    assert message in cell[: cell.index("</div>")]
    assert not Erasure.objects.exists()


def test_an_approved_erasure_shows_where_its_job_is(org_a, personal):
    """Approved, the erasure waits for its redaction job: the page says queued, or dead (a
    failed job: the org admin gets the link to the Jobs page to retry it)."""
    officer = login(org_a, "olga", COMPLIANCE_OFFICER)
    given = {"subject_kind": "actor", "actor": "agent:xavier", "reason": "ticket 3"}
    officer.post(PAGE, {**given, "equals_type": "text"})
    erasure = Erasure.objects.get()
    assert "data-job-state" not in officer.get(PAGE).content.decode()  # not approved yet
    admin = login(org_a, "adam", ORG_ADMIN)
    admin.post(PAGE, {"approve": erasure.id})
    assert 'data-job-state="queued"' in officer.get(PAGE).content.decode()
    [job] = ProcrastinateJob.objects.filter(task_name="compliance.erasure_execute")
    with connection.cursor() as cursor:  # a worker takes it and it fails for good
        cursor.execute("SELECT id FROM procrastinate_fetch_job_v2(NULL, NULL)")
        assert cursor.fetchone()[0] == job.id
        cursor.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", [job.id])
    officer_page = officer.get(PAGE).content.decode()
    assert 'data-job-state="dead"' in officer_page and "/dashboard/jobs/" not in officer_page
    assert '<a href="/dashboard/jobs/?task=compliance.erasure_execute">dead</a>' in (
        admin.get(PAGE).content.decode()
    )


def test_the_requester_never_approves_their_own(org_a, personal):
    """Someone who is both officer and org admin requests; only another admin approves."""
    dana = login(org_a, "dana", COMPLIANCE_OFFICER, ORG_ADMIN)
    dana.post(
        PAGE,
        {
            "subject_kind": "actor",
            "actor": "user:adam",
            "equals_type": "text",
            "reason": "left the company",
        },
    )
    erasure = Erasure.objects.get()
    page = dana.get(PAGE).content.decode()
    assert 'name="approve"' not in page and "another org admin approves" in page
    refused = dana.post(PAGE, {"approve": erasure.id}, follow=True)
    assert "four eyes" in refused.content.decode()
    erasure.refresh_from_db()
    assert erasure.status == Erasure.REQUESTED
    assert not ProcrastinateJob.objects.filter(task_name="compliance.erasure_execute").exists()


def test_approving_twice_is_a_message_not_an_error(org_a, personal):
    officer = login(org_a, "olga", COMPLIANCE_OFFICER)
    officer.post(
        PAGE,
        {
            "subject_kind": "actor",
            "actor": "user:adam",
            "equals_type": "text",
            "reason": "ticket 9",
        },
    )
    erasure = Erasure.objects.get()
    admin = login(org_a, "adam", ORG_ADMIN)
    assert admin.post(PAGE, {"approve": erasure.id}).status_code == 302
    again = admin.post(PAGE, {"approve": erasure.id}, follow=True)
    assert again.status_code == 200 and "already approved" in again.content.decode()
    assert admin.post(PAGE, {"approve": "era_missing"}).status_code == 404


def test_query_count_does_not_grow_with_rows(org_a):
    officer = login(org_a, "olga", COMPLIANCE_OFFICER)

    def request(index: int) -> None:
        given = {"subject_kind": "actor", "actor": f"agent:a{index}", "reason": "bulk"}
        assert officer.post(PAGE, {**given, "equals_type": "text"}).status_code == 302

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert officer.get(PAGE).status_code == 200
        return len(captured)

    request(0)
    one_row = page_queries()
    for index in range(1, 21):
        request(index)
    assert page_queries() == one_row <= 10
