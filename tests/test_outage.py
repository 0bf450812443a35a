"""Database outages answer 503 with Retry-After, never 500 (issue #18, defect 7), and the
rate-limit middleware tells a database error from a cache error."""

from __future__ import annotations

import logging

from django.db import OperationalError
from django.test import Client

import access.middleware
from tests.conftest import client_for, make_agent_key, make_user


def lost_connection(*args, **kwargs):
    raise OperationalError("the connection is closed")


def test_a_view_that_loses_the_database_answers_503(agent_client, monkeypatch, settings):
    settings.METAQORE_OUTAGE_RETRY_AFTER_SECONDS = 7
    monkeypatch.setattr("projects.api.views.ProjectViewSet.get_queryset", lost_connection)
    response = agent_client.get("/api/v1/projects")
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response.json()["code"] == "database_unavailable"
    assert response.json()["request_id"] == response["X-Request-ID"]


def test_a_dashboard_page_that_loses_the_database_answers_503(org_a, monkeypatch):
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org_a, "dash", "org_admin"))
    monkeypatch.setattr("dashboard.views.lockouts.locked_accounts", lost_connection)
    response = client.get("/dashboard/users/lockouts/")
    assert response.status_code == 503
    assert response["Retry-After"]


def test_rate_limiting_tells_the_database_from_the_cache(org_a, monkeypatch, caplog):
    """Reproduced: a database error while looking the key up was logged as "cache
    unavailable" and the request was served without limits."""
    key = make_agent_key(org_a)
    monkeypatch.setattr(access.middleware, "agent_key_authenticate", lost_connection)
    with caplog.at_level(logging.WARNING):
        response = client_for(org_a, key=key).get("/api/v1/projects")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert "Database unavailable while rate limiting" in caplog.text
    assert "cache is unavailable" not in caplog.text


def test_a_dead_cache_is_logged_as_such_and_requests_are_served(org_a, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    key = make_agent_key(org_a)
    with caplog.at_level(logging.WARNING):
        response = client_for(org_a, key=key).get("/api/v1/projects")
    assert response.status_code == 200
    assert "cache is unavailable" in caplog.text
    assert "X-RateLimit-Limit" not in response
