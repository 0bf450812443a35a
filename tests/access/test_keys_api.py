"""Agent-key management over the API."""

from access.models import AgentKey
from access.roles import ORG_ADMIN
from tests.conftest import client_for, make_user, user_token


def test_org_admin_creates_lists_and_revokes_keys(org_a):
    admin = client_for(org_a, token=user_token(org_a, make_user(org_a, "boss", ORG_ADMIN)))
    created = admin.post(
        "/api/v1/governance/agent-keys",
        {"agent": "orchestrator", "privileged": True, "expires_in_days": 30},
    )
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("mq_") and len(key) >= 35
    assert body["is_privileged"] is True and body["created_by"] == "user:boss"
    assert body["expires_at"]
    assert not AgentKey.objects.filter(key_hash=key).exists()  # only a hash is stored

    listed = admin.get("/api/v1/governance/agent-keys").json()["results"]
    assert [k["prefix"] for k in listed] == [body["prefix"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]

    orchestrator = client_for(org_a, key=key)
    assert orchestrator.get("/api/v1/internal/stats").status_code == 200
    revoked = admin.post(f"/api/v1/governance/agent-keys/{body['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
    assert orchestrator.get("/api/v1/projects").status_code == 401
    assert admin.post("/api/v1/governance/agent-keys", {"agent": ""}).status_code == 400
