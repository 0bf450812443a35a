"""Rate limits: per credential, else per IP; burst and sustained windows; privileged 10x;
brute-force guards; headers on every response."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from access.roles import VIEWER
from tests.conftest import client_for, make_agent_key, make_user, user_token
from tests.redis_cache import use_redis_cache


# Every test runs on both counter implementations (access.ratelimit_counters): the Redis
# script production uses, and Django's cache API for the local-memory cache.
@pytest.fixture(params=["locmem", "redis"])
def small_limits(request, settings):
    if request.param == "redis":
        use_redis_cache(settings)
    settings.METAQORE_ENABLE_RATE_LIMIT = True
    settings.METAQORE_RATE_LIMIT_PER_MINUTE = 2  # sustained: 10 per 5 minutes
    settings.METAQORE_RATE_LIMIT_BURST = 4  # at most 4 in one minute
    settings.METAQORE_PRIVILEGED_RATE_LIMIT_PER_MINUTE = 20
    settings.METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE = 3
    settings.METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE = 3
    return settings


def test_burst_limit_then_429_with_retry_after(org_a, small_limits):
    client = client_for(org_a, key=make_agent_key(org_a))
    remaining = []
    for _ in range(4):
        response = client.get("/api/v1/projects")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "4"
        remaining.append(int(response["X-RateLimit-Remaining"]))
    assert remaining == [3, 2, 1, 0]
    refused = client.get("/api/v1/projects")
    assert refused.status_code == 429
    assert refused.json()["detail"] == "Request rate limit exceeded."
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_limits_are_per_credential(org_a, small_limits):
    first = client_for(org_a, key=make_agent_key(org_a, "one"))
    second = client_for(org_a, key=make_agent_key(org_a, "two"))
    for _ in range(4):
        first.get("/api/v1/projects")
    assert first.get("/api/v1/projects").status_code == 429
    assert second.get("/api/v1/projects").status_code == 200


def test_privileged_clients_get_ten_times(org_a, small_limits):
    client = client_for(org_a, key=make_agent_key(org_a, "studio", privileged=True))
    statuses = [client.get("/api/v1/projects").status_code for _ in range(40)]
    assert statuses == [200] * 40
    assert client.get("/api/v1/projects").status_code == 429


def test_anonymous_requests_are_limited_per_ip(org_a, small_limits):
    client = client_for(org_a)
    statuses = [client.get("/api/v1/health").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    other_ip = client.get("/api/v1/health", REMOTE_ADDR="10.1.2.3")
    assert other_ip.status_code == 200


def test_token_endpoint_has_a_stricter_limit(org_a, small_limits):
    client = client_for(org_a)
    statuses = [
        client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_bad_keys_from_one_ip_are_refused_early(org_a, small_limits):
    statuses = [
        client_for(org_a, key=f"mq_not-a-real-key-{i:030d}").get("/api/v1/projects").status_code
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert (
        client_for(org_a, key="mq_x" * 10)
        .get("/api/v1/projects", REMOTE_ADDR="10.9.9.9")
        .status_code
        == 401
    )


def test_disabled(org_a, small_limits):
    small_limits.METAQORE_ENABLE_RATE_LIMIT = False
    client = client_for(org_a, key=make_agent_key(org_a))
    assert all(client.get("/api/v1/projects").status_code == 200 for _ in range(8))
    assert "X-RateLimit-Limit" not in client.get("/api/v1/projects")


def other_org_token(organization, user_id: int) -> str:
    """A validly signed access JWT of ``organization`` naming ``user_id`` (beta's user 4)."""
    token = AccessToken()
    token["user_id"] = user_id
    token["org"] = organization.schema_name
    return str(token)


def test_another_orgs_token_spends_only_the_callers_address(org_a, org_b, small_limits):
    """Reproduced (issue #18, defect 2): beta's JWT on alpha's host spent the budget of
    alpha's user with the same id, and alpha's own viewer then got 429."""
    small_limits.METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE = 100
    alpha_viewer = make_user(org_a, "victim", VIEWER)
    victim = client_for(org_a, token=user_token(org_a, alpha_viewer))
    attacker = client_for(org_a, token=other_org_token(org_b, alpha_viewer.pk))
    statuses = [
        attacker.get("/api/v1/projects", REMOTE_ADDR="10.6.6.6").status_code for _ in range(6)
    ]
    assert statuses == [401, 401, 401, 401, 429, 429]  # the attacker's address: burst of 4
    assert [victim.get("/api/v1/projects").status_code for _ in range(4)] == [200] * 4


def test_another_orgs_token_counts_as_an_invalid_credential(org_a, org_b, small_limits):
    attacker = client_for(org_a, token=other_org_token(org_b, 1))
    statuses = [
        attacker.get("/api/v1/projects", REMOTE_ADDR="10.7.7.7").status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert (
        "invalid credentials"
        in attacker.get("/api/v1/projects", REMOTE_ADDR="10.7.7.7").json()["detail"]
    )


def test_another_orgs_agent_key_spends_only_the_callers_address(org_a, org_b, small_limits):
    small_limits.METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE = 100
    beta_key = make_agent_key(org_b, "beta-agent")
    attacker = client_for(org_a, key=beta_key)
    for _ in range(6):
        attacker.get("/api/v1/projects", REMOTE_ADDR="10.8.8.8")
    # the key's own budget in its own org is untouched
    assert client_for(org_b, key=beta_key).get("/api/v1/projects").status_code == 200
    assert client_for(org_b, key=beta_key).get("/api/v1/projects")["X-RateLimit-Remaining"] == "2"
