"""The pages outside the dashboard: the bare host's landing page (never a DEBUG page) and the
403/404/500 pages in the dashboard's look, with navigation and the request id."""

from __future__ import annotations

import pytest
from django.test import Client

from access.roles import VIEWER
from dashboard.views.overview import OverviewView
from tests.conftest import make_user


@pytest.mark.parametrize("debug", [False, True])
def test_the_bare_host_serves_a_landing_page(db, settings, debug):
    settings.DEBUG = debug
    response = Client(HTTP_HOST="localhost").get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Admission control for AI agents" in page
    for link in (
        'href="/api/v1/docs/"',
        'href="/admin/"',
        "X-MetaQore-Org",
        "create_platform_admin",
    ):
        assert link in page
    assert "dashboard/theme.css" in page
    assert "URLconf" not in page  # not Django's technical 404


def test_an_unknown_page_of_an_org_is_a_404_in_the_dashboards_look(org_a):
    response = Client(HTTP_HOST="alpha.localhost").get("/dashboard/projects/proj_nope/x/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "This page does not exist" in page and "dashboard/theme.css" in page
    assert 'href="/dashboard/"' in page and "Alpha" in page  # navigation, the org's name
    assert f'<code id="request-id">{response["X-Request-ID"]}</code>' in page


def test_a_refused_page_is_a_403_naming_the_missing_right(org_a):
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org_a, "vic", VIEWER))
    response = client.get("/dashboard/policy/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your role does not allow" in page and "change_policy" in page
    assert 'href="/dashboard/conflicts/"' in page
    assert response["X-Request-ID"] in page


def test_a_server_error_is_a_500_page_with_the_request_id(org_a, monkeypatch):
    def broken(self, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(OverviewView, "get_context_data", broken)
    client = Client(HTTP_HOST="alpha.localhost", raise_request_exception=False)
    client.force_login(make_user(org_a, "vic", VIEWER))
    response = client.get("/dashboard/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "boom" not in page
    assert response["X-Request-ID"] in page
