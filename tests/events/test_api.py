"""Webhooks API (org_admin only), the stream's request checks, and /metrics."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote as admin_quote
from rest_framework.test import APIClient

from access.actors import Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from events.models import Webhook, WebhookDelivery
from governance.provider_routing import routing_decide
from projects.services import project_create
from tests.compliance.conftest import user_client
from tests.conftest import client_for, make_agent_key, use_org

WEBHOOKS = "/api/v1/webhooks/"
HOOK = {"url": "https://hooks.example.com/metaqore", "event_types": ["artifact.*"]}


@pytest.fixture
def admin(org_a):
    return user_client(org_a, "ada", ORG_ADMIN)


def test_org_admin_creates_a_webhook_and_sees_the_secret_once(admin, org_a):
    response = admin.post(WEBHOOKS, HOOK)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("whk_") and len(body["secret"]) >= 32
    assert body["event_types"] == ["artifact.*"] and body["active"] is True
    listed = admin.get(WEBHOOKS).json()["results"]
    assert [hook["id"] for hook in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in admin.get(f"{WEBHOOKS}{body['id']}").json()
    event = AuditEvent.objects.get(event_type="webhook.created", resource_id=body["id"])
    assert event.actor == "user:ada" and "secret" not in str(event.payload)


def test_update_delete_and_their_events(admin, org_a):
    hook_id = admin.post(WEBHOOKS, {**HOOK, "secret": "s" * 20}).json()["id"]
    response = admin.patch(f"{WEBHOOKS}{hook_id}", {"active": False, "secret": "t" * 20})
    assert response.status_code == 200 and response.json()["active"] is False
    assert Webhook.objects.get(pk=hook_id).secret == "t" * 20
    updated = AuditEvent.objects.get(event_type="webhook.updated", resource_id=hook_id)
    assert updated.payload == {
        "before": {"active": True},
        "after": {"active": False},
        "secret_changed": True,
    }
    assert admin.delete(f"{WEBHOOKS}{hook_id}").status_code == 204
    assert AuditEvent.objects.filter(event_type="webhook.deleted", resource_id=hook_id).exists()
    assert not Webhook.objects.filter(pk=hook_id).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"url": "http://127.0.0.1:8000/hook"}, "url"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "https://ok.example.com/", "event_types": ["organization.*"]}, "event_types"),
        ({"url": "https://ok.example.com/", "event_types": "artifact.*"}, "event_types"),
        ({"url": "https://ok.example.com/", "secret": "short"}, "secret"),
        ({}, "url"),
    ],
)
def test_invalid_webhooks_are_400(admin, body, field):
    response = admin.post(WEBHOOKS, body)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_the_delivery_log(admin, org_a):
    hook_id = admin.post(WEBHOOKS, HOOK).json()["id"]
    webhook = Webhook.objects.get(pk=hook_id)
    WebhookDelivery.objects.create(
        webhook=webhook,
        event_seq=7,
        event_id="evt_1",
        event_type="artifact.declared",
        attempts=2,
        last_status_code=500,
        last_error="HTTP 500",
    )
    page = admin.get(f"{WEBHOOKS}{hook_id}/deliveries").json()
    assert page["count"] == 1
    [row] = page["results"]
    assert (row["event_seq"], row["status"], row["last_status_code"]) == (7, "pending", 500)
    assert admin.get(f"{WEBHOOKS}{hook_id}/deliveries?status=delivered").json()["count"] == 0
    assert admin.get(f"{WEBHOOKS}{hook_id}/deliveries?status=nope").status_code == 400


@pytest.mark.parametrize("role", [VIEWER, AUDITOR, COMPLIANCE_OFFICER])
def test_other_roles_may_not(org_a, role):
    client = user_client(org_a, f"u-{role}", role)
    assert client.get(WEBHOOKS).status_code == 403
    assert client.post(WEBHOOKS, HOOK).status_code == 403


def test_agents_may_not_even_privileged_ones(org_a):
    for privileged in (False, True):
        key = make_agent_key(org_a, f"agent-{privileged}", privileged=privileged)
        client = client_for(org_a, key=key)
        assert client.get(WEBHOOKS).status_code == 403
        assert client.post(WEBHOOKS, HOOK).status_code == 403
    assert client_for(org_a).get(WEBHOOKS).status_code == 401


def test_another_orgs_webhooks_are_404(admin, org_a, org_b):
    use_org(org_b)
    other = Webhook.objects.create(url="https://b.example.com/", secret="x" * 20)
    use_org(org_a)
    assert admin.get(f"{WEBHOOKS}{other.pk}").status_code == 404


# --- the stream's checks (the stream itself is tested on real servers, see tests/e2e) ----------

STREAM = "/api/v1/events/stream"


def test_stream_needs_a_credential(org_a):
    assert client_for(org_a).get(STREAM).status_code == 401
    bad = client_for(org_a, key="mq_notakey")
    assert bad.get(STREAM).status_code == 401


@pytest.mark.parametrize(
    "query",
    ["event_types=organization.*", "event_types=a%20b", "since=-1", "since=x", "project_id=a;b"],
)
def test_stream_parameters_are_checked(agent_client, query):
    response = agent_client.get(f"{STREAM}?{query}")
    assert response.status_code == 400, response.content


def test_stream_needs_asgi(agent_client):
    response = agent_client.get(f"{STREAM}?event_types=artifact.*")
    assert response.status_code == 501
    assert "ASGI" in response.json()["detail"]


# --- /metrics -------------------------------------------------------------------------------


@pytest.fixture
def governed(org_a):
    """One declaration (accepted), one blocked with a conflict, one veto in org A."""
    use_org(org_a)
    coder, tester = Actor("agent", "coder"), Actor("agent", "tester")
    project = project_create(actor=coder, name="metrics")
    artifact_declare(actor=coder, project=project, artifact_type="code", data={})
    artifact_declare(actor=tester, project=project, artifact_type="code", data={})
    routing_decide(actor=coder, provider="no-such-provider")


def scrape(**headers) -> str:
    client = APIClient(HTTP_HOST="localhost")
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_metrics_expose_the_series(governed, org_a):
    client_for(org_a).get("/api/v1/projects")  # a 401, counted too
    text = scrape()
    for line in (
        'metaqore_artifacts_declared_total{organization="alpha",outcome="accepted"} 1.0',
        'metaqore_conflicts_open{organization="alpha",severity="high"}',
        'metaqore_routing_vetoes_total{organization="alpha",policy=',
        'metaqore_webhook_deliveries_total{organization="alpha",result="delivered"} 0.0',
        'metaqore_webhook_deliveries_pending{organization="alpha"} 0.0',
        'metaqore_stream_clients{transport="sse"}',
        'metaqore_stream_clients{transport="websocket"}',
        "metaqore_http_request_duration_seconds_bucket{",
        'metaqore_http_requests_total{method="GET",route="/api/v1/projects/?$",status="401"}',
    ):
        assert line in text, line
    assert "metaqore_conflicts_detected_total{" in text
    assert 'violated="unknown_provider"' in text
    blocked = [
        line
        for line in text.splitlines()
        if line.startswith("metaqore_artifacts_declared_total") and "blocked" in line
    ]
    assert blocked and blocked[0].endswith(" 1.0")


def test_metrics_token(settings, db):
    settings.METAQORE_METRICS_TOKEN = "scrape-me"
    client = APIClient(HTTP_HOST="localhost")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "metaqore_" in scrape(HTTP_AUTHORIZATION="Bearer scrape-me")


def test_metrics_are_not_served_on_an_org_host(org_a):
    assert client_for(org_a).get("/metrics").status_code == 404


# --- the org admin's Django admin -------------------------------------------------------------


@pytest.fixture
def django_admin(org_a):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("root", "", "pw-Secret-123")
    client = Client(HTTP_HOST=org_a.domains.get(is_primary=True).domain)
    client.force_login(user)
    return client


def admin_form(**overrides) -> dict:
    return {
        "url": "https://hooks.example.com/admin",
        "event_types": '["conflict.*"]',
        "active": "on",
        "description": "",
        "secret": "x" * 20,
        "deliveries-TOTAL_FORMS": "0",
        "deliveries-INITIAL_FORMS": "0",
        **overrides,
    }


def test_admin_saves_webhooks_through_the_service(django_admin, org_a):
    response = django_admin.post("/admin/events/webhook/add/", admin_form())
    assert response.status_code == 302, response.content[:2000]
    webhook = Webhook.objects.get()
    assert (webhook.url, webhook.event_types, webhook.secret) == (
        "https://hooks.example.com/admin",
        ["conflict.*"],
        "x" * 20,
    )
    event = AuditEvent.objects.get(event_type="webhook.created", resource_id=webhook.pk)
    assert event.actor == "user:root"
    change = f"/admin/events/webhook/{admin_quote(webhook.pk)}/change/"
    assert django_admin.get(change).status_code == 200
    response = django_admin.post(change, admin_form(secret="", active=""))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert not webhook.active and webhook.secret == "x" * 20  # an empty secret keeps it
    assert django_admin.get("/admin/events/webhookdelivery/").status_code == 200


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"url": "http://169.254.169.254/"}, "metadata"),
        ({"event_types": '["organization.*"]'}, "matches no live event"),
        ({"secret": ""}, "secret"),
    ],
)
def test_admin_refuses_what_the_api_refuses(django_admin, overrides, error):
    response = django_admin.post("/admin/events/webhook/add/", admin_form(**overrides))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Webhook.objects.exists()
