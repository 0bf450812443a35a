"""``Idempotency-Key`` on POSTs: a repeated request gets the first response back."""

import pytest
from rest_framework.test import APIClient

from access.actors import Actor
from access.models import AgentKey, IdempotencyRecord
from artifacts.models import Artifact
from projects.services import project_create
from tests.artifacts.conftest import declare
from tests.conftest import client_for, make_agent_key, make_user


@pytest.fixture
def project(org_a):
    return project_create(actor=Actor(kind="agent", name="coder"), name="Idempotent")


@pytest.fixture
def coder(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "coder"))


@pytest.fixture
def tester(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "tester"))


def test_a_repeated_declaration_returns_the_first_response_and_creates_one_artifact(coder, project):
    first = declare(coder, project, HTTP_IDEMPOTENCY_KEY="decl-1")
    again = declare(coder, project, HTTP_IDEMPOTENCY_KEY="decl-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert again["X-MetaQore-Governance-Mode"] == "strict"
    assert Artifact.objects.filter(project=project).count() == 1
    other = declare(coder, project, HTTP_IDEMPOTENCY_KEY="decl-2")  # a new key acts again
    assert other.json()["version"] == 2


def test_a_blocked_declaration_replays_its_409(coder, tester, project):
    declare(coder, project)
    blocked = declare(tester, project, version=1, HTTP_IDEMPOTENCY_KEY="k")
    replay = declare(tester, project, version=1, HTTP_IDEMPOTENCY_KEY="k")
    assert blocked.status_code == replay.status_code == 409
    assert replay.json()["id"] == blocked.json()["id"]
    assert Artifact.objects.filter(project=project).count() == 2


def test_keys_belong_to_one_credential(coder, tester, project):
    mine = declare(coder, project, HTTP_IDEMPOTENCY_KEY="shared")
    theirs = declare(tester, project, artifact_type="plan", HTTP_IDEMPOTENCY_KEY="shared")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]
    assert not theirs.has_header("Idempotent-Replayed")


def test_the_same_key_with_another_body_is_a_400(coder, project):
    declare(coder, project, HTTP_IDEMPOTENCY_KEY="k1")
    reused = declare(coder, project, data={"other": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    assert reused.status_code == 400
    assert "Idempotency-Key" in reused.json()
    assert Artifact.objects.filter(project=project).count() == 1


def test_a_malformed_key_is_a_400_and_errors_are_replayed(coder, project):
    assert declare(coder, project, HTTP_IDEMPOTENCY_KEY="x" * 256).status_code == 400
    bad = coder.post("/api/v1/artifacts", {"project_id": project.id}, HTTP_IDEMPOTENCY_KEY="b")
    assert bad.status_code == 400 and "artifact_type" in bad.json()
    again = coder.post("/api/v1/artifacts", {"project_id": project.id}, HTTP_IDEMPOTENCY_KEY="b")
    assert again["Idempotent-Replayed"] == "true" and again.json() == bad.json()


def test_an_expired_record_no_longer_replays(coder, project):
    declare(coder, project, HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at="2000-01-01T00:00:00Z")
    again = declare(coder, project, HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 201 and again.json()["version"] == 2
    assert IdempotencyRecord.objects.count() == 1


def test_a_response_with_a_secret_is_never_stored_nor_replayed(org_admin):
    """A new agent key is shown once (only its hash is kept): its response is not stored, and
    a repeat gets 409 instead of a second key."""
    first = org_admin.post(
        "/api/v1/governance/agent-keys", {"agent": "ci"}, HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert first.status_code == 201 and first.json()["key"].startswith("mq_")
    assert "no-store" in first["Cache-Control"]
    record = IdempotencyRecord.objects.get(key="key-1")
    assert record.replayable is False and bytes(record.body) == b"" and record.headers == {}
    again = org_admin.post(
        "/api/v1/governance/agent-keys", {"agent": "ci"}, HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "idempotent_response_not_kept"
    assert AgentKey.objects.filter(agent__name="ci").count() == 1


def test_tokens_and_webhook_secrets_are_not_cacheable(org_a, org_admin):
    make_user(org_a, "tokens", "viewer")
    domain = org_a.domains.get(is_primary=True).domain
    client = APIClient(HTTP_HOST=domain)
    issued = client.post("/api/v1/auth/token/", {"username": "tokens", "password": "pw-Secret-123"})
    assert issued.status_code == 200 and "no-store" in issued["Cache-Control"]
    refreshed = client.post("/api/v1/auth/token/refresh/", {"refresh": issued.json()["refresh"]})
    assert refreshed.status_code == 200 and "no-store" in refreshed["Cache-Control"]
    hook = org_admin.post(
        "/api/v1/webhooks", {"url": "https://example.com/hook", "event_types": ["artifact.*"]}
    )
    assert hook.status_code == 201, hook.json()
    assert "no-store" in hook["Cache-Control"]
