"""API authentication: agent keys, org-bound JWTs and sessions; credentials never cross orgs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from access.keys import agent_key_authenticate, agent_key_create, agent_key_revoke
from access.models import Agent, AgentKey
from metaqore_site.governed import governed_writes
from tests.conftest import client_for, make_agent_key, make_user, use_org

PASSWORD = "pw-Secret-123"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def assert_401(response) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def get_projects(client: APIClient, **headers):
    return client.get("/api/v1/projects", **headers)


# agent keys ---------------------------------------------------------------------------------


def test_no_credential_is_401_with_www_authenticate(org_a):
    response = get_projects(client_for(org_a))
    assert_401(response)
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    for path in ("/api/v1/tasks", "/api/v1/projects/proj_0123456789abcdef"):
        assert_401(client_for(org_a).get(path))
    assert_401(client_for(org_a).post("/api/v1/projects", {"name": "x"}))


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer mq_" + "a" * 43},
        {"HTTP_AUTHORIZATION": "Bearer not-a-key-nor-a-jwt"},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_X_API_KEY": "mq_" + "b" * 43},
        {"HTTP_X_API_KEY": "garbage"},
        {"HTTP_X_API_KEY": "mq_" + "c" * 5000},
        {"HTTP_X_API_KEY": "mq_\x00" + "d" * 40},
        {"HTTP_AUTHORIZATION": "Bearer mq_é" + "e" * 40},
    ],
)
def test_bad_key_is_401(org_a, headers):
    make_agent_key(org_a)  # a real key exists; these are not it
    response = get_projects(client_for(org_a), **headers)
    assert_401(response)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_tampered_key_with_a_real_prefix_is_401(org_a):
    key = make_agent_key(org_a)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert_401(get_projects(client_for(org_a, key=tampered)))
    assert_401(get_projects(client_for(org_a, key=key + "x")))
    assert get_projects(client_for(org_a, key=key)).status_code == 200


def test_key_via_x_api_key_and_via_bearer(org_a):
    key = make_agent_key(org_a)
    assert get_projects(client_for(org_a), HTTP_X_API_KEY=key).status_code == 200
    assert get_projects(client_for(org_a), HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert get_projects(client_for(org_a), HTTP_AUTHORIZATION=f"bearer  {key} ").status_code == 200


def test_revoked_key_is_401(org_a):
    key = make_agent_key(org_a)
    client = client_for(org_a, key=key)
    assert get_projects(client).status_code == 200
    use_org(org_a)
    agent_key_revoke(prefix=key[:12])
    assert_401(get_projects(client))
    assert_401(get_projects(client_for(org_a), HTTP_X_API_KEY=key))


def test_expired_key_is_401(org_a):
    key = make_agent_key(org_a, expires_in_days=1)
    assert get_projects(client_for(org_a, key=key)).status_code == 200
    use_org(org_a)
    with governed_writes("system:test"):
        AgentKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_401(get_projects(client_for(org_a, key=key)))


def test_key_of_org_a_is_401_on_org_b(org_a, org_b):
    key_a = make_agent_key(org_a, agent="shared-name")
    make_agent_key(org_b, agent="shared-name")
    assert_401(get_projects(client_for(org_b, key=key_a)))
    assert_401(get_projects(client_for(org_b), HTTP_X_API_KEY=key_a))
    # Also when org B is chosen with the header on the bare host.
    bare = APIClient(HTTP_HOST="127.0.0.1", HTTP_X_METAQORE_ORG="beta")
    assert_401(get_projects(bare, HTTP_AUTHORIZATION=f"Bearer {key_a}"))
    bare_a = APIClient(HTTP_HOST="127.0.0.1", HTTP_X_METAQORE_ORG="alpha")
    assert get_projects(bare_a, HTTP_AUTHORIZATION=f"Bearer {key_a}").status_code == 200


def test_agent_is_the_actor(agent_client):
    created = agent_client.post("/api/v1/projects", {"name": "Mine"})
    assert created.json()["owner_id"] == "agent:coder"


def test_last_used_at_is_recorded(org_a):
    key = make_agent_key(org_a)
    use_org(org_a)
    assert AgentKey.objects.get().last_used_at is None
    before = timezone.now()
    assert get_projects(client_for(org_a, key=key)).status_code == 200
    use_org(org_a)
    used = AgentKey.objects.get().last_used_at
    assert used is not None and before <= used <= timezone.now()
    # A failed attempt with a wrong key of the same prefix does not count as a use.
    AgentKey.objects.update(last_used_at=None)
    assert_401(get_projects(client_for(org_a, key=key[:-1] + ("A" if key[-1] != "A" else "B"))))
    use_org(org_a)
    assert AgentKey.objects.get().last_used_at is None


def test_keys_are_stored_only_as_hashes(org_a):
    use_org(org_a)
    new = agent_key_create(agent_name="hashed")
    stored = [str(v) for row in AgentKey.objects.values_list() for v in row]
    stored += [str(v) for row in Agent.objects.values_list() for v in row]
    assert not any(new.key in value for value in stored)
    assert not any(new.key[12:] in value for value in stored)
    # Authentication recomputes the hash: a row whose hash does not match refuses the key.
    assert agent_key_authenticate(new.key) is not None
    with governed_writes("system:test"):
        AgentKey.objects.filter(pk=new.record.pk).update(key_hash="0" * 64)
    assert agent_key_authenticate(new.key) is None


# JWT ----------------------------------------------------------------------------------------


def obtain(organization, username: str, password: str = PASSWORD):
    return client_for(organization).post(
        "/api/v1/auth/token/", {"username": username, "password": password}
    )


def test_jwt_pair_access_and_refresh(org_a):
    make_user(org_a, "alice", "org_admin")
    pair = obtain(org_a, "alice")
    assert pair.status_code == 200, pair.content
    assert set(pair.json()) == {"access", "refresh"}

    access = pair.json()["access"]
    created = client_for(org_a, token=access).post("/api/v1/projects", {"name": "By Alice"})
    assert created.status_code == 201
    assert created.json()["owner_id"] == "user:alice"

    refreshed = client_for(org_a).post(
        "/api/v1/auth/token/refresh", {"refresh": pair.json()["refresh"]}
    )
    assert refreshed.status_code == 200, refreshed.content
    new_access = refreshed.json()["access"]
    assert get_projects(client_for(org_a, token=new_access)).status_code == 200


def test_token_endpoints_without_trailing_slash(org_a):
    make_user(org_a, "alice", "viewer")
    pair = client_for(org_a).post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD})
    assert pair.status_code == 200
    refreshed = client_for(org_a).post(
        "/api/v1/auth/token/refresh/", {"refresh": pair.json()["refresh"]}
    )
    assert refreshed.status_code == 200


def test_jwt_of_org_a_is_401_on_org_b(org_a, org_b):
    # The same user id exists in both schemas: only the org claim tells the tokens apart.
    sam_a = make_user(org_a, "sam", "org_admin")
    use_org(org_b)
    sam_b = get_user_model().objects.create_user("sam", "", PASSWORD, id=sam_a.pk)
    sam_b.groups.add(Group.objects.get(name="viewer"))  # a user without a role reads nothing
    pair = obtain(org_a, "sam").json()
    assert_401(get_projects(client_for(org_b, token=pair["access"])))
    refreshed = client_for(org_b).post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]})
    assert_401(refreshed)
    # Through the org header on the bare host as well.
    bare = APIClient(HTTP_HOST="127.0.0.1", HTTP_X_METAQORE_ORG="beta")
    assert_401(get_projects(bare, HTTP_AUTHORIZATION=f"Bearer {pair['access']}"))
    # Org B's own pair works on org B.
    assert (
        get_projects(client_for(org_b, token=obtain(org_b, "sam").json()["access"])).status_code
        == 200
    )


def test_jwt_wrong_password_unknown_user_and_inactive_user_are_401(org_a, org_b):
    user = make_user(org_a, "alice", "viewer")
    assert_401(obtain(org_a, "alice", "wrong-password"))
    assert_401(obtain(org_a, "nobody"))
    # alice exists only in org A.
    assert_401(obtain(org_b, "alice"))
    access = obtain(org_a, "alice").json()["access"]
    use_org(org_a)
    user.is_active = False
    user.save()
    assert_401(get_projects(client_for(org_a, token=access)))
    assert_401(obtain(org_a, "alice"))


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": "alice"},
        {"username": 5, "password": []},
        {"username": "a\x00", "password": "x"},
    ],
)
def test_jwt_obtain_bad_input_is_400_or_401(org_a, payload):
    make_user(org_a, "alice", "viewer")
    response = client_for(org_a).post("/api/v1/auth/token/", payload)
    assert response.status_code in (400, 401), response.content
    assert isinstance(response.json(), dict)


def test_jwt_refresh_garbage_is_401(org_a):
    response = client_for(org_a).post("/api/v1/auth/token/refresh/", {"refresh": "garbage"})
    assert_401(response)


def test_access_token_is_not_a_refresh_token(org_a):
    make_user(org_a, "alice", "viewer")
    pair = obtain(org_a, "alice").json()
    response = client_for(org_a).post("/api/v1/auth/token/refresh/", {"refresh": pair["access"]})
    assert_401(response)
    assert_401(get_projects(client_for(org_a, token=pair["refresh"])))


def test_token_endpoint_is_not_on_the_public_host(db):
    response = APIClient(HTTP_HOST="localhost").post(
        "/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json"
    )
    assert response.status_code == 404


# sessions -----------------------------------------------------------------------------------


def test_session_auth_works_for_the_api(org_a):
    user = make_user(org_a, "dana", "compliance_officer")
    client = client_for(org_a)
    client.force_login(user)
    assert get_projects(client).status_code == 200
    created = client.post("/api/v1/projects", {"name": "By session"})
    assert created.status_code == 201
    assert created.json()["owner_id"] == "user:dana"


def test_session_login_through_admin_then_api(org_a):
    make_user(org_a, "erin", "viewer")
    use_org(org_a)
    get_user_model().objects.filter(username="erin").update(is_staff=True)
    client = client_for(org_a)
    assert client.login(username="erin", password=PASSWORD)
    assert get_projects(client).status_code == 200


def test_session_of_org_a_is_401_on_org_b(org_a, org_b):
    user = make_user(org_a, "dana", "viewer")
    client = client_for(org_a)
    client.force_login(user)
    assert get_projects(client).status_code == 200
    # Same cookie jar, other org's host: the session does not exist in org B's schema.
    response = client.get("/api/v1/projects", HTTP_HOST="beta.localhost")
    assert_401(response)


def test_session_requires_csrf_for_writes(org_a):
    user = make_user(org_a, "dana", "viewer")
    client = APIClient(HTTP_HOST="alpha.localhost", enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/projects", {"name": "No CSRF"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# every endpoint -----------------------------------------------------------------------------

PUBLIC_PATHS = {
    "/api/v1/health/",
    "/api/v1/auth/token/",
    "/api/v1/auth/token/refresh/",
    # Public keys verify signed checkpoints offline: public by design, nothing secret in them.
    "/api/v1/governance/compliance/public-keys/",
}


def example_id(schema: dict) -> str:
    """An id the route accepts (e.g. ``evt_0000…`` where the route's pattern demands `evt_`)."""
    if schema.get("pattern", "").startswith("^[0-9]") or schema.get("type") == "integer":
        return "1"  # a numbered route (policy revisions)
    prefix = re.match(r"\^([a-z]+_)", schema.get("pattern", ""))
    return (prefix.group(1) if prefix else "x_") + "0" * 16


def test_every_api_endpoint_but_health_and_token_requires_a_credential(org_a):
    """Walks the OpenAPI schema, so endpoints added later are covered too."""
    schema = client_for(org_a).get("/api/v1/schema/?format=json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        if path in PUBLIC_PATHS:
            continue
        for method in operations:
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            if operations[method].get("operationId") == "events_websocket":
                continue  # not plain HTTP: tests/events checks its close code 4401
            url = path
            for param in operations[method].get("parameters", []):
                if param["in"] == "path":
                    url = url.replace(f"{{{param['name']}}}", example_id(param["schema"]))
            response = getattr(client_for(org_a), method)(url, {}, format="json")
            assert response.status_code == 401, (method, url, response.status_code)
            checked += 1
    assert checked >= 8  # projects and tasks: list, create, read, update, delete
