"""Who may call what: every endpoint x every kind of caller, table-driven.

The same table is published in API_REFERENCE.md ("Roles"). Codes: 2xx success, 401 no valid
credential for this org, 403 the caller's role or key may not.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from access.actors import Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from artifacts.services import artifact_declare
from governance.models import GovernancePolicy
from governance.waivers import waiver_create
from projects.services import project_create
from tests.conftest import client_for, make_agent_key, make_user, use_org, user_token

ROLES = ("agent", "privileged", "viewer", "auditor", "officer", "admin", "other_admin", "anon")


def row(*codes: int) -> dict[str, int]:
    return dict(zip(ROLES, codes, strict=True))


READ = row(200, 200, 200, 200, 200, 200, 401, 401)
WRITE_WORK = row(201, 201, 403, 403, 201, 201, 401, 401)
UPDATE_WORK = row(200, 200, 403, 403, 200, 200, 401, 401)
DELETE_WORK = row(204, 204, 403, 403, 204, 204, 401, 401)
READ_AUDIT = row(403, 200, 403, 200, 200, 200, 401, 401)
PRIVILEGED_ONLY = row(403, 200, 403, 403, 403, 403, 401, 401)
ORG_ADMIN_ONLY = row(403, 403, 403, 403, 403, 200, 401, 401)

# (method, path template, body, expected codes by role)
MATRIX = [
    ("GET", "/api/v1/health", None, row(200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/projects", None, READ),
    ("POST", "/api/v1/projects", {"name": "new"}, WRITE_WORK),
    ("GET", "/api/v1/projects/{project}", None, READ),
    ("PATCH", "/api/v1/projects/{project}", {"description": "x"}, UPDATE_WORK),
    ("DELETE", "/api/v1/projects/{empty_project}", None, DELETE_WORK),
    ("GET", "/api/v1/tasks", None, READ),
    ("POST", "/api/v1/tasks", {"project_id": "{project}", "title": "t"}, WRITE_WORK),
    ("GET", "/api/v1/artifacts", None, READ),
    (
        "POST",
        "/api/v1/artifacts",
        {"project_id": "{project}", "artifact_type": "matrix", "data": {}},
        WRITE_WORK,
    ),
    ("PATCH", "/api/v1/artifacts/{draft}", {"data": {"v": 2}}, UPDATE_WORK),
    (
        "POST",
        "/api/v1/artifacts/{draft}/transition",
        {"to": "archived"},
        UPDATE_WORK,
    ),
    ("GET", "/api/v1/governance/conflicts", None, READ),
    (
        "POST",
        "/api/v1/governance/conflicts/{high_conflict}/resolve",
        {"strategy": "override"},
        row(403, 403, 403, 403, 200, 200, 401, 401),
    ),
    (
        "POST",
        "/api/v1/governance/conflicts/{high_conflict}/resolve",
        {"strategy": "merge"},
        UPDATE_WORK,
    ),
    ("GET", "/api/v1/governance/blocking-report?project_id={project}", None, READ),
    ("GET", "/api/v1/governance/blocking-report", None, READ),
    ("GET", "/api/v1/governance/policy", None, READ),
    ("PATCH", "/api/v1/governance/policy", {"mode": "adaptive"}, ORG_ADMIN_ONLY),
    (
        "PATCH",
        "/api/v1/governance/policy",
        {"rules": [{"id": "try", "match": {"min_severity": "high"}, "action": "dryrun"}]},
        ORG_ADMIN_ONLY,
    ),
    ("GET", "/api/v1/governance/policy/revisions", None, READ),
    ("POST", "/api/v1/governance/policy/revisions/{revision}/restore", None, ORG_ADMIN_ONLY),
    ("GET", "/api/v1/governance/policy/rules/report", None, READ),
    (
        "POST",
        "/api/v1/governance/policy/simulate",
        {"policy": {"mode": "playground"}},
        row(403, 403, 403, 403, 200, 200, 401, 401),
    ),
    ("GET", "/api/v1/governance/decisions", None, READ),
    ("GET", "/api/v1/governance/waivers", None, READ),
    (
        "POST",
        "/api/v1/governance/waivers",
        {"match": {"agents": ["tester"]}, "justification": "pilot", "expires_at": "{expires}"},
        row(403, 403, 403, 403, 201, 201, 401, 401),
    ),
    (
        "POST",
        "/api/v1/governance/waivers/{waiver}/revoke",
        {"reason": "done"},
        row(403, 403, 403, 403, 200, 200, 401, 401),
    ),
    ("GET", "/api/v1/governance/providers", None, READ),
    (
        "PATCH",
        "/api/v1/governance/providers/ollama",
        {"available": False},
        row(403, 200, 403, 403, 403, 200, 401, 401),
    ),
    (
        "POST",
        "/api/v1/governance/providers",
        {"name": "new-cloud", "kind": "cloud"},
        row(403, 201, 403, 403, 403, 201, 401, 401),
    ),
    ("POST", "/api/v1/governance/routing/classify", {"task_type": "x"}, UPDATE_WORK),
    ("POST", "/api/v1/governance/routing/enforce", {"provider": "ollama"}, UPDATE_WORK),
    ("GET", "/api/v1/governance/compliance/audit", None, READ_AUDIT),
    ("GET", "/api/v1/governance/compliance/export?format=jsonl", None, READ_AUDIT),
    ("GET", "/api/v1/governance/compliance/verify", None, READ_AUDIT),
    ("GET", "/api/v1/governance/compliance/checkpoints", None, READ_AUDIT),
    ("GET", "/api/v1/governance/compliance/verifications", None, READ_AUDIT),
    (
        "POST",
        "/api/v1/governance/compliance/verifications",
        None,
        row(403, 202, 403, 202, 202, 202, 401, 401),
    ),
    ("GET", "/api/v1/governance/compliance/evidence", None, READ_AUDIT),
    ("GET", "/api/v1/governance/compliance/erasures", None, READ_AUDIT),
    (
        "POST",
        "/api/v1/governance/compliance/erasures",
        {"subject": "agent:coder", "reason": "GDPR"},
        row(403, 403, 403, 403, 201, 403, 401, 401),
    ),
    (
        "POST",
        "/api/v1/governance/compliance/checkpoints",
        None,
        row(403, 403, 403, 201, 403, 201, 401, 401),
    ),
    # public, but a credential of another org is still refused
    (
        "GET",
        "/api/v1/governance/compliance/public-keys",
        None,
        row(200, 200, 200, 200, 200, 200, 401, 200),
    ),
    ("GET", "/api/v1/internal/stats", None, PRIVILEGED_ONLY),
    (
        "POST",
        "/api/v1/internal/conflicts/auto-resolve",
        {"project_id": "{project}"},
        PRIVILEGED_ONLY,
    ),
    ("GET", "/api/v1/governance/agent-keys", None, ORG_ADMIN_ONLY),
    (
        "POST",
        "/api/v1/governance/agent-keys",
        {"agent": "fresh-agent"},
        row(403, 403, 403, 403, 403, 201, 401, 401),
    ),
]


@pytest.fixture
def world(org_a, org_b):
    """One project with a draft, a HIGH conflict, and an empty project to delete."""
    use_org(org_a)
    coder, tester = Actor("agent", "coder"), Actor("agent", "tester")
    project = project_create(actor=coder, name="matrix")
    empty = project_create(actor=coder, name="empty")
    artifact_declare(actor=coder, project=project, artifact_type="code", data={})
    blocked = artifact_declare(actor=tester, project=project, artifact_type="code", data={})
    draft = artifact_declare(actor=coder, project=project, artifact_type="plan", data={})
    officer = Actor("user", "olivia", roles=frozenset({COMPLIANCE_OFFICER}))
    expires = timezone.now() + timedelta(days=7)
    waiver = waiver_create(
        actor=officer, match={"agents": ["x"]}, justification="matrix", expires_at=expires
    )
    return {
        "revision": GovernancePolicy.load().revision,
        "waiver": waiver.id,
        "expires": expires.isoformat(),
        "project": project.id,
        "empty_project": empty.id,
        "draft": draft.artifact.id,
        "high_conflict": blocked.conflicts[0].id,
    }


def caller(role: str, org_a, org_b):
    if role == "agent":
        return client_for(org_a, key=make_agent_key(org_a, "coder"))
    if role == "privileged":
        return client_for(org_a, key=make_agent_key(org_a, "studio", privileged=True))
    if role == "other_admin":
        return client_for(org_a, token=user_token(org_b, make_user(org_b, "intruder", ORG_ADMIN)))
    if role == "anon":
        return client_for(org_a)
    group = {"viewer": VIEWER, "auditor": AUDITOR, "officer": COMPLIANCE_OFFICER}.get(
        role, ORG_ADMIN
    )
    return client_for(org_a, token=user_token(org_a, make_user(org_a, f"u-{role}", group)))


def fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    return value


CASES = [
    pytest.param(method, path, body, role, codes[role], id=f"{method} {path} {body or ''} {role}")
    for method, path, body, codes in MATRIX
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), CASES)
def test_role_matrix(world, org_a, org_b, method, path, body, role, expected):
    client = caller(role, org_a, org_b)
    url = fill(path, world)
    data = fill(body, world)
    response = (
        getattr(client, method.lower())(url, data) if data else getattr(client, method.lower())(url)
    )
    assert response.status_code == expected, response.content[:300]
