import pytest

from access.actors import Actor
from governance.models import GovernancePolicy
from projects.services import project_create
from tests.conftest import client_for, make_agent_key


@pytest.fixture
def project(org_a):
    return project_create(actor=Actor(kind="agent", name="coder"), name="Payments")


@pytest.fixture
def coder(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "coder"))


@pytest.fixture
def tester(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "tester"))


@pytest.fixture
def orchestrator(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "studio", privileged=True))


def set_mode(mode: str) -> None:
    policy = GovernancePolicy.load()
    policy.mode = mode
    policy.save()


def declare(client, project, artifact_type="code", **fields):
    """POST a declaration; keyword arguments named HTTP_* are sent as headers."""
    headers = {k: fields.pop(k) for k in list(fields) if k.startswith("HTTP_")}
    body = {"project_id": project.id, "artifact_type": artifact_type, "data": {"src": "x"}}
    body.update(fields)
    return client.post("/api/v1/artifacts", body, **headers)
