"""The Django admin is just another client: its edits are governed and audited."""

import json

import pytest
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.auth import get_user_model
from django.test import Client

from artifacts.models import Artifact, Conflict
from compliance.models import AuditEvent
from tests.artifacts.conftest import declare


@pytest.fixture
def admin_client_a(org_a):
    user = get_user_model().objects.create_superuser("root", "", "pw-Secret-123")
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    return client


def change_form(artifact: Artifact, **overrides) -> dict:
    form = {
        "state": artifact.state,
        "data": json.dumps(artifact.data),
        "depends_on": json.dumps(artifact.depends_on),
        "file_paths": json.dumps(artifact.file_paths),
        "requirements": json.dumps(artifact.requirements),
        "metadata": json.dumps(artifact.metadata),
        "conflicts-TOTAL_FORMS": "0",
        "conflicts-INITIAL_FORMS": "0",
        "conflicts-MIN_NUM_FORMS": "0",
        "conflicts-MAX_NUM_FORMS": "1000",
    }
    form.update(overrides)
    return form


def test_admin_activation_of_blocked_artifact_is_refused(admin_client_a, coder, tester, project):
    declare(coder, project)
    blocked = Artifact.objects.get(pk=declare(tester, project).json()["id"])
    url = f"/admin/artifacts/artifact/{admin_quote(blocked.pk)}/change/"
    response = admin_client_a.post(url, change_form(blocked, state="active"))
    assert response.status_code == 200  # the form comes back with the error
    assert b"Cannot activate" in response.content
    assert Artifact.objects.get(pk=blocked.pk).state == "draft"


def test_admin_edit_is_governed_and_audited_as_the_admin_user(admin_client_a, coder, project):
    artifact = Artifact.objects.get(pk=declare(coder, project).json()["id"])
    start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    url = f"/admin/artifacts/artifact/{admin_quote(artifact.pk)}/change/"
    response = admin_client_a.post(url, change_form(artifact, data='{"edited": true}'))
    assert response.status_code == 302, response.content[:2000]
    assert Artifact.objects.get(pk=artifact.pk).data == {"edited": True}
    event = AuditEvent.objects.get(seq=start + 1)
    assert (event.event_type, event.actor) == ("artifact.updated", "user:root")
    assert event.payload["after"] == {"data": {"edited": True}}

    response = admin_client_a.post(
        url, change_form(artifact, data='{"edited": true}', state="active")
    )
    assert response.status_code == 302
    assert Artifact.objects.get(pk=artifact.pk).state == "active"
    response = admin_client_a.post(url, change_form(artifact, data='{"again": 1}', state="active"))
    assert b"only drafts change" in response.content


def test_admin_action_resolves_conflicts(admin_client_a, coder, tester, project):
    declare(coder, project)
    blocked = declare(tester, project).json()
    conflict_id = blocked["governance"]["conflicts"][0]["id"]
    response = admin_client_a.post(
        "/admin/artifacts/conflict/",
        {"action": "resolve_override", "_selected_action": [conflict_id]},
    )
    assert response.status_code == 302
    conflict = Conflict.objects.get(pk=conflict_id)
    assert (conflict.status, conflict.resolved_by) == ("resolved", "user:root")
    assert Artifact.objects.get(pk=blocked["id"]).is_blocked is False


def test_admin_policy_edit_goes_through_the_service(admin_client_a):
    from governance.models import GovernancePolicy

    response = admin_client_a.post(
        "/admin/governance/governancepolicy/1/change/",
        {
            "mode": "adaptive",
            "routing_policy": "default_local_first",
            "auto_archive_superseded": "on",
            "rules": "[]",
            "max_waiver_days": "30",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    policy = GovernancePolicy.load()
    assert (policy.mode, policy.revision, policy.updated_by) == ("adaptive", 2, "user:root")
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.event_type, event.actor) == ("policy.changed", "user:root")
    assert admin_client_a.get("/admin/governance/governancepolicy/add/").status_code == 403


def test_admin_policy_rules_are_checked_on_the_form(admin_client_a):
    from governance.models import GovernancePolicy

    form = {
        "mode": "strict",
        "routing_policy": "default_local_first",
        "auto_archive_superseded": "on",
        "max_waiver_days": "30",
    }
    bad = '[{"id": "x", "match": {"min_severity": "urgent"}, "action": "warn"}]'
    response = admin_client_a.post(
        "/admin/governance/governancepolicy/1/change/", {**form, "rules": bad}
    )
    assert response.status_code == 200
    assert "match.min_severity" in response.content.decode()
    good = '[{"id": "x", "match": {"min_severity": "high"}, "action": "dryrun"}]'
    response = admin_client_a.post(
        "/admin/governance/governancepolicy/1/change/", {**form, "rules": good}
    )
    assert response.status_code == 302, response.content[:2000]
    (rule,) = GovernancePolicy.load().rules
    assert (rule["action"], rule["author"]) == ("dryrun", "user:root")
