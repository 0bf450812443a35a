"""The privileged header elevates agent keys only (issue #18, defect 3).

Reproduced first: a viewer's JWT plus the right ``X-MetaQore-Privileged`` token got 201 on
projects, tasks and artifacts, reached ``/internal`` and the audit export, and wrote providers.
Now a user's JWT or session is never privileged; the response says the header was ignored.
"""

from __future__ import annotations

import pytest
from django.test import Client

from access.roles import ORG_ADMIN, VIEWER
from tests.conftest import client_for, make_agent_key, make_user, role_client

TOKEN = "a-long-operator-secret"
HEADER = {"HTTP_X_METAQORE_PRIVILEGED": TOKEN}


@pytest.fixture(autouse=True)
def privileged_token(settings):
    settings.METAQORE_PRIVILEGED_TOKEN = TOKEN


def test_viewer_jwt_with_the_token_stays_a_viewer(org_a):
    viewer = role_client(org_a, "vince", VIEWER)
    for method, path, body in (
        ("post", "/api/v1/projects", {"name": "sneaky"}),
        ("get", "/api/v1/internal/stats", None),
        ("get", "/api/v1/governance/compliance/export", None),
        ("post", "/api/v1/governance/providers", {"name": "evil", "kind": "cloud"}),
    ):
        response = getattr(viewer, method)(path, body, **HEADER)
        assert response.status_code == 403, (path, response.content)
        assert response["X-MetaQore-Privileged"] == "ignored"
    assert viewer.get("/api/v1/projects", **HEADER)["X-MetaQore-Privileged"] == "ignored"


def test_org_admin_jwt_gets_no_privileged_endpoints(org_a):
    admin = role_client(org_a, "ada", ORG_ADMIN)
    response = admin.get("/api/v1/internal/stats", **HEADER)
    assert response.status_code == 403
    assert response["X-MetaQore-Privileged"] == "ignored"


def test_session_user_with_the_token_is_not_privileged(org_a):
    user = make_user(org_a, "sessy", ORG_ADMIN)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    response = client.get("/api/v1/internal/stats", **HEADER)
    assert response.status_code == 403
    assert response["X-MetaQore-Privileged"] == "ignored"


def test_agent_key_with_the_token_is_privileged(org_a):
    agent = client_for(org_a, key=make_agent_key(org_a, "orchestrator"))
    assert agent.get("/api/v1/internal/stats").status_code == 403
    response = agent.get("/api/v1/internal/stats", **HEADER)
    assert response.status_code == 200
    assert response["X-MetaQore-Privileged"] == "true"


def test_user_rate_limit_is_not_raised_by_the_header(org_a, settings):
    settings.METAQORE_RATE_LIMIT_BURST = 3
    viewer = role_client(org_a, "rita", VIEWER)
    statuses = [viewer.get("/api/v1/projects", **HEADER).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
