"""Request hardening (issue #18): chunked bodies are refused (411) rather than dropped;
names, identifiers and paths refuse control and bidirectional characters (400); dashboard
and admin pages carry a Content-Security-Policy."""

from __future__ import annotations

import pytest
from django.test import Client

from compliance.models import AuditEvent
from projects.models import Project
from tests.conftest import use_org

BIDI_OVERRIDE = "\u202e"


@pytest.fixture
def project(agent_client):
    return agent_client.post("/api/v1/projects", {"name": "Target"}).json()


def test_chunked_patch_is_411_not_silently_empty(agent_client, project, org_a):
    """Reproduced: PATCH with Transfer-Encoding: chunked answered 200 and changed nothing."""
    response = agent_client.patch(
        f"/api/v1/projects/{project['id']}",
        b'{"name": "renamed"}',
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]
    assert response["X-Request-ID"]
    use_org(org_a)
    assert Project.objects.get(id=project["id"]).name == "Target"


def test_identity_transfer_encoding_is_a_normal_body(agent_client, project):
    response = agent_client.patch(
        f"/api/v1/projects/{project['id']}",
        {"name": "renamed"},
        HTTP_TRANSFER_ENCODING="identity",
    )
    assert response.status_code == 200
    assert response.json()["name"] == "renamed"


@pytest.mark.parametrize(
    "bad", [f"src/{BIDI_OVERRIDE}gpj.exe", "a\nb", "tab\there", "esc\x1b[31m", "\u2066x", "\x85"]
)
def test_file_paths_refuse_control_and_bidi_characters(agent_client, project, bad):
    """Reproduced: file_paths accepted U+202E and newlines."""
    body = {"project_id": project["id"], "artifact_type": "code", "data": {}, "file_paths": [bad]}
    response = agent_client.post("/api/v1/artifacts", body)
    assert response.status_code == 400
    assert "file_paths" in response.json()


@pytest.mark.parametrize("bad", [f"Pay{BIDI_OVERRIDE}lanoitan", "two\nlines", "\u200fname"])
def test_names_refuse_control_and_bidi_characters(agent_client, project, org_admin, bad):
    assert agent_client.post("/api/v1/projects", {"name": bad}).status_code == 400
    patch = agent_client.patch(f"/api/v1/projects/{project['id']}", {"name": bad})
    assert patch.status_code == 400
    assert "name" in patch.json()
    assert org_admin.post("/api/v1/governance/agent-keys", {"agent": bad}).status_code == 400
    routing = agent_client.post("/api/v1/governance/routing/classify", {"agent_name": bad})
    assert routing.status_code == 400


def test_prose_keeps_its_newlines(agent_client):
    response = agent_client.post(
        "/api/v1/projects", {"name": "Émile's café 数据", "description": "line one\nline two"}
    )
    assert response.status_code == 201
    assert response.json()["description"] == "line one\nline two"


def test_refused_input_writes_no_audit_event(agent_client, org_a):
    use_org(org_a)
    before = AuditEvent.objects.count()
    assert agent_client.post("/api/v1/projects", {"name": "x\u202ey"}).status_code == 400
    use_org(org_a)
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("alpha.localhost", "/dashboard/login/"),
        ("alpha.localhost", "/admin/login/"),
        ("localhost", "/admin/login/"),
    ],
)
def test_dashboard_and_admin_pages_carry_a_csp(db, host, path):
    response = Client(HTTP_HOST=host).get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


def test_api_responses_carry_no_page_csp(agent_client):
    assert "Content-Security-Policy" not in agent_client.get("/api/v1/projects")
