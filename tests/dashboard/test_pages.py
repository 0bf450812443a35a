"""Dashboard pages: every page renders for the roles that may see it, refuses the others,
and writes go through the same services (and audit events) as the API."""

import pytest
from django.test import Client

from access.actors import Actor
from access.models import AgentKey
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from artifacts.models import Artifact, Conflict
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from governance.models import GovernancePolicy, Provider
from projects.services import project_create
from tests.conftest import make_user


def login(org, username: str, role: str) -> Client:
    user = make_user(org, username, role)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    return client


@pytest.fixture
def seeded(org_a):
    coder, tester = Actor("agent", "coder"), Actor("agent", "tester")
    project = project_create(actor=coder, name="Checkout")
    spec = artifact_declare(actor=coder, project=project, artifact_type="spec", data={})
    artifact_declare(
        actor=coder, project=project, artifact_type="code", data={}, depends_on=[spec.artifact.id]
    )
    blocked = artifact_declare(actor=tester, project=project, artifact_type="code", data={})
    stale = artifact_declare(actor=coder, project=project, artifact_type="spec", data={}, version=1)
    return {
        "project": project,
        "blocked": blocked.artifact,
        "high": blocked.conflicts[0],
        "medium": stale.conflicts[0],
    }


PAGES = [
    "/dashboard/",
    "/dashboard/conflicts/",
    "/dashboard/conflicts/{high}/",
    "/dashboard/projects/",
    "/dashboard/projects/{project}/",
    "/dashboard/audit/",
    "/dashboard/policy/",
    "/dashboard/keys/",
    "/dashboard/users/",
]
ADMIN_ONLY = {"/dashboard/policy/", "/dashboard/keys/", "/dashboard/users/"}


def url(template: str, seeded) -> str:
    return template.format(high=seeded["high"].id, project=seeded["project"].id)


@pytest.mark.parametrize("page", PAGES)
def test_org_admin_sees_every_page(org_a, seeded, page):
    response = login(org_a, "ada", ORG_ADMIN).get(url(page, seeded))
    assert response.status_code == 200
    assert b"MetaQore" in response.content


@pytest.mark.parametrize("page", sorted(ADMIN_ONLY | {"/dashboard/audit/"}))
def test_viewer_is_refused_admin_and_audit_pages(org_a, seeded, page):
    assert login(org_a, "vic", VIEWER).get(url(page, seeded)).status_code == 403


def test_auditor_reads_audit_but_not_policy(org_a, seeded):
    client = login(org_a, "aud", AUDITOR)
    assert client.get("/dashboard/audit/").status_code == 200
    assert client.get("/dashboard/policy/").status_code == 403


def test_anonymous_is_sent_to_login(org_a):
    response = Client(HTTP_HOST="alpha.localhost").get("/dashboard/conflicts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/dashboard/login/")
    assert Client(HTTP_HOST="alpha.localhost").get("/dashboard/login/").status_code == 200


def test_queue_orders_by_severity_then_age_and_filters(org_a, seeded):
    client = login(org_a, "otto", COMPLIANCE_OFFICER)
    body = client.get("/dashboard/conflicts/").content.decode()
    assert body.index(seeded["high"].id) < body.index(seeded["medium"].id)
    only_medium = client.get("/dashboard/conflicts/?severity=medium").content.decode()
    assert seeded["medium"].id in only_medium and seeded["high"].id not in only_medium
    by_agent = client.get("/dashboard/conflicts/?agent=tester").content.decode()
    assert seeded["high"].id in by_agent and seeded["medium"].id not in by_agent


def test_viewer_sees_no_resolve_form(org_a, seeded):
    client = login(org_a, "vic", VIEWER)
    page = client.get(f"/dashboard/conflicts/{seeded['high'].id}/")
    assert page.status_code == 200 and b'id="resolve-form"' not in page.content
    refused = client.post(f"/dashboard/conflicts/{seeded['high'].id}/", {"strategy": "merge"})
    assert refused.status_code == 403
    assert Conflict.objects.get(pk=seeded["high"].id).status == "open"


def test_officer_resolves_then_activates(org_a, seeded):
    client = login(org_a, "otto", COMPLIANCE_OFFICER)
    response = client.post(
        f"/dashboard/conflicts/{seeded['high'].id}/", {"strategy": "override", "note": "ok"}
    )
    assert response.status_code == 302
    conflict = Conflict.objects.get(pk=seeded["high"].id)
    assert (conflict.status, conflict.resolved_by, conflict.note) == ("resolved", "user:otto", "ok")
    event = AuditEvent.objects.filter(event_type="conflict.resolved").order_by("-seq").first()
    assert event.actor == "user:otto"
    client.post(
        f"/dashboard/projects/{seeded['project'].id}/",
        {"artifact_id": seeded["blocked"].id, "to": "active"},
    )
    assert Artifact.objects.get(pk=seeded["blocked"].id).state == "active"


def test_forbidden_override_is_a_message_not_an_error(org_a, seeded, settings):
    # An org user without the override right: resolving HIGH with override is refused politely.
    from django.contrib.auth.models import Group

    user = make_user(org_a, "weak", COMPLIANCE_OFFICER)
    user.groups.set([Group.objects.get(name=VIEWER)])
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    assert (
        client.post(
            f"/dashboard/conflicts/{seeded['high'].id}/", {"strategy": "override"}
        ).status_code
        == 403
    )


def test_bulk_resolve_only_low_and_medium(org_a, seeded):
    client = login(org_a, "otto", COMPLIANCE_OFFICER)
    response = client.post(
        "/dashboard/conflicts/",
        {"conflict_ids": [seeded["medium"].id, seeded["high"].id], "bulk_strategy": "override"},
        follow=True,
    )
    assert response.status_code == 200
    assert Conflict.objects.get(pk=seeded["medium"].id).status == "resolved"
    assert Conflict.objects.get(pk=seeded["high"].id).status == "open"


def test_policy_page_saves_through_the_service(org_a, seeded):
    client = login(org_a, "ada", ORG_ADMIN)
    response = client.post(
        "/dashboard/policy/",
        {
            "mode": "adaptive",
            "routing_policy": "compliance_local_only",
            "auto_archive_superseded": "on",
        },
        follow=True,
    )
    assert b"Policy saved." in response.content
    policy = GovernancePolicy.load()
    assert (policy.mode, policy.routing_policy) == ("adaptive", "compliance_local_only")
    event = AuditEvent.objects.filter(event_type="policy.changed").order_by("-seq").first()
    assert event.actor == "user:ada"


def test_policy_page_links_to_providers_and_no_longer_toggles_them(org_a):
    client = login(org_a, "ada", ORG_ADMIN)
    page = client.get("/dashboard/policy/").content.decode()
    assert 'href="/dashboard/providers/"' in page and "provider-toggle" not in page
    available = Provider.objects.get(name="ollama").available
    events = AuditEvent.objects.count()
    client.post("/dashboard/policy/", {"provider": "ollama"})  # the old toggle's form
    assert Provider.objects.get(name="ollama").available is available
    assert AuditEvent.objects.count() == events


def test_keys_page_shows_the_key_once_and_revokes(org_a):
    client = login(org_a, "ada", ORG_ADMIN)
    page = client.post("/dashboard/keys/", {"agent": "bot", "privileged": "on"}, follow=True)
    content = page.content.decode()
    assert 'id="new-key"' in content
    key = content.split('id="new-key">')[1].split("<")[0]
    assert key.startswith("mq_")
    assert 'id="new-key"' not in client.get("/dashboard/keys/").content.decode()  # shown once
    record = AgentKey.objects.get(agent__name="bot")
    assert record.is_privileged
    client.post("/dashboard/keys/", {"revoke": record.pk})
    record.refresh_from_db()
    assert record.revoked_at is not None


def test_users_page_creates_users_with_roles(org_a):
    client = login(org_a, "ada", ORG_ADMIN)
    client.post(
        "/dashboard/users/",
        {"username": "newbie", "password": "long-enough-pw", "roles": [AUDITOR, VIEWER]},
    )
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="newbie")
    assert sorted(user.groups.values_list("name", flat=True)) == [AUDITOR, VIEWER]


def test_audit_page_filters_and_export_links(org_a, seeded):
    client = login(org_a, "aud", AUDITOR)
    body = client.get("/dashboard/audit/?event_type=conflict.*").content.decode()
    assert "conflict.detected" in body and "artifact.declared" not in body
    assert "format=csv&amp;event_type=conflict.%2A" in body
    bad = client.get("/dashboard/audit/?since=yesterday")
    assert bad.status_code == 200 and b"errorlist" in bad.content
    verified = client.post("/dashboard/audit/verify/", follow=True)
    assert b'id="verify-result"' in verified.content and b"intact" in verified.content
    assert b"0 signed checkpoints" in verified.content


def test_query_counts_do_not_grow_with_rows(org_a, seeded, django_assert_max_num_queries):
    client = login(org_a, "ada", ORG_ADMIN)
    for page in PAGES:
        with django_assert_max_num_queries(20):
            assert client.get(url(page, seeded)).status_code == 200
