"""The humans' side in a real browser (issue #21): a compliance officer resolves a conflict
from the Django admin, an auditor exports CSV from the admin, an org admin edits a skill,
creates a webhook, sends it a test event that a real receiver gets, and adds a provider; and
the landing and error pages. Outcomes are checked in the page, in the database and in the
audit trail; the pages are saved under docs/screenshots/ (``make screenshots``)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from access.actors import SYSTEM, Actor
from artifacts.models import Conflict
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from events.models import Webhook, WebhookDelivery
from events.webhook_delivery import delivery_send
from governance.models import Provider
from hmcp.models import Skill
from hmcp.registry import skill_create
from projects.services import project_create
from tests.browser.conftest import PASSWORD
from tests.processes import free_port

pytestmark = pytest.mark.browser

CODER, TESTER = Actor("agent", "coder"), Actor("agent", "tester")
PLATFORM_PASSWORD = "Platform-Pass-2024!"


def select(element, value: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(element).select_by_value(value)


def admin_login(browser, username: str) -> None:
    browser.open("/admin/login/?next=/admin/")
    browser.css("#id_username").send_keys(username)
    browser.css("#id_password").send_keys(PASSWORD)
    browser.click_and_wait(browser.css("#login-form [type=submit]"))
    assert browser.path == "/admin/", f"admin login as {username} ended on {browser.path}"
    assert "have permission to view or edit anything" not in browser.driver.page_source


def run_admin_action(browser, action: str) -> None:
    select(browser.css("select[name=action]"), action)
    browser.click_and_wait(browser.css("button[name=index]"))


def events_of(in_org, actor: str, since: int) -> list[str]:
    """What ``actor`` changed since ``since`` (its logins, ``auth.*``, left out)."""
    with in_org():
        return list(
            AuditEvent.objects.filter(seq__gt=since, actor=actor)
            .exclude(event_type__startswith="auth.")
            .order_by("seq")
            .values_list("event_type", flat=True)
        )


def head_seq(in_org) -> int:
    with in_org():
        return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


@pytest.fixture(scope="module")
def conflict_id(in_org) -> str:
    """The tester's declaration is blocked by a HIGH parallel_creation conflict."""
    with in_org():
        project = project_create(actor=CODER, name="Checkout")
        artifact_declare(actor=CODER, project=project, artifact_type="api-spec", data={})
        blocked = artifact_declare(actor=TESTER, project=project, artifact_type="api-spec", data={})
        (conflict,) = blocked.conflicts
        return conflict.id


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append({"headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    """A webhook endpoint on this machine (the live server allows private addresses)."""
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metaqore"
    finally:
        server.shutdown()
        server.server_close()


def test_officer_resolves_a_conflict_from_the_django_admin(browser, conflict_id, in_org):
    start = head_seq(in_org)
    admin_login(browser, "otto")
    browser.screenshot("admin_index")
    browser.open("/admin/artifacts/conflict/")
    row = browser.css(f"input.action-select[value='{conflict_id}']")
    status_cell = row.find_element("xpath", "ancestor::tr")
    assert "open" in status_cell.text and "high" in status_cell.text  # badges, not ticks
    row.click()
    browser.screenshot("admin_conflicts")
    run_admin_action(browser, "resolve_override")
    assert "override: 1 conflict(s)." in browser.text("ul.messagelist").lower()
    with in_org():
        conflict = Conflict.objects.select_related("artifact").get(pk=conflict_id)
        assert (conflict.status, conflict.resolved_by) == ("resolved", "user:otto")
        assert conflict.artifact.is_blocked is False
    assert events_of(in_org, "user:otto", start) == ["conflict.resolved", "artifact.unblocked"]
    # A viewer sees the queue but no action that writes.
    browser.driver.delete_all_cookies()
    admin_login(browser, "vic")
    browser.open("/admin/artifacts/conflict/")
    assert not browser.exists("select[name=action]")


def test_auditor_exports_csv_from_the_django_admin(browser, conflict_id, in_org, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    start = head_seq(in_org)
    admin_login(browser, "aud")
    browser.open("/admin/compliance/auditevent/")
    rows = len(browser.all("input.action-select"))
    assert rows > 3
    browser.css("#action-toggle").click()  # every event on the page
    select(browser.css("select[name=action]"), "export_csv")
    browser.screenshot("admin_audit_export")
    browser.css("button[name=index]").click()
    exported = wait_for_file(downloads, "*.csv")
    lines = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert len(lines) == rows
    assert {"event_type", "actor", "hash", "seq"} <= set(lines[0])
    assert events_of(in_org, "user:aud", start) == ["compliance.exported"]
    with in_org():
        event = AuditEvent.objects.filter(event_type="compliance.exported").latest("seq")
        assert (event.payload["via"], event.payload["count"]) == ("admin", rows)


def wait_for_file(folder: Path, pattern: str, timeout: float = 15) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern} downloaded to {folder}: {list(folder.iterdir())}")


def test_admin_edits_a_skill(browser, in_org):
    with in_org():
        skill_create(
            actor=SYSTEM,
            skill_id="report-writing",
            parent_agent="writer",
            max_specialist_size_mb=80,
            allowed_teachers=["gpt-4o"],
        )
    start = head_seq(in_org)
    browser.login("ada")
    browser.click_and_wait(browser.css("nav a[href='/dashboard/specialists/']"))
    browser.screenshot("specialists")
    browser.click_and_wait(browser.css("a[href='/dashboard/specialists/skills/report-writing/']"))
    size = browser.css("#id_max_specialist_size_mb")
    size.clear()
    size.send_keys("250")
    teachers = browser.css("#id_allowed_teachers")
    teachers.clear()
    teachers.send_keys("gpt-4o\nllama-3-70b")
    browser.screenshot("skill")
    browser.submit(browser.css("#skill-edit-form"))
    assert "Skill report-writing saved." in browser.text(".messages")
    with in_org():
        skill = Skill.objects.get(skill_id="report-writing")
        assert (skill.max_specialist_size_mb, skill.allowed_teachers) == (
            250,
            ["gpt-4o", "llama-3-70b"],
        )
    assert events_of(in_org, "user:ada", start) == ["skill.updated"]


def test_admin_creates_a_webhook_and_sends_a_test_event(browser, in_org, receiver, settings):
    settings.METAQORE_WEBHOOK_ALLOW_PRIVATE = True  # this process sends the delivery
    start = head_seq(in_org)
    browser.login("ada")
    browser.click_and_wait(browser.css("nav a[href='/dashboard/webhooks/']"))
    browser.css("#id_url").send_keys(receiver)
    browser.css("#id_event_types").send_keys("conflict.*")
    browser.css("#id_description").send_keys("on-call pager")
    browser.submit(browser.css("#webhook-form"))
    secret = browser.text("#new-secret")
    assert len(secret) >= 32  # generated, shown once
    browser.screenshot("webhooks")
    with in_org():
        webhook = Webhook.objects.get(url=receiver)
        assert webhook.secret == secret and webhook.event_types == ["conflict.*"]
    browser.click_and_wait(browser.css(f"a[href='/dashboard/webhooks/{webhook.id}/']"))
    browser.submit(browser.css("#webhook-test-form"))
    assert "Test event queued" in browser.text(".messages")
    with in_org():
        delivery = WebhookDelivery.objects.get(webhook=webhook)
        assert (delivery.event_type, delivery.status) == ("webhook.test", "pending")
        assert delivery_send(delivery.id) == "delivered"  # what the worker's job does
    (received,) = Receiver.received
    assert received["body"]["type"] == "webhook.test"
    assert received["headers"]["X-MetaQore-Event"] == "webhook.test"
    browser.open(f"/dashboard/webhooks/{webhook.id}/")
    row = browser.css(f"tr[data-delivery='{delivery.id}']")
    assert "delivered" in row.text and "200" in row.text
    browser.screenshot("webhook")
    browser.submit(browser.css("#webhook-pause-form"))
    assert "Webhook paused." in browser.text(".messages")
    assert events_of(in_org, "user:ada", start) == [
        "webhook.created",
        "webhook.test",
        "webhook.updated",
    ]


def test_admin_adds_a_provider(browser, in_org):
    start = head_seq(in_org)
    browser.login("ada")
    browser.click_and_wait(browser.css("nav a[href='/dashboard/providers/']"))
    browser.css("#id_name").send_keys("vllm-east")
    select(browser.css("#id_kind"), "local")
    for field, value in (("latency_ms", "45"), ("priority", "15"), ("capacity_score", "0.6")):
        box = browser.css(f"#id_{field}")
        box.clear()
        box.send_keys(value)
    browser.submit(browser.css("#provider-form"))
    assert "Provider vllm-east added." in browser.text(".messages")
    row = browser.css("tr[data-provider='vllm-east']")
    assert "45 ms" in row.text and "available" in row.text
    browser.screenshot("providers")
    with in_org():
        provider = Provider.objects.get(name="vllm-east")
        assert (provider.kind, provider.priority, provider.capacity_score) == ("local", 15, 0.6)
    # Taken out of rotation, then back
    for available in (False, True):
        row = browser.css("tr[data-provider='vllm-east']")
        browser.submit(browser.css("form.provider-toggle", within=row))
        state = "available" if available else "unavailable"
        assert f"vllm-east is now {state}." in browser.text(".messages")
        with in_org():
            assert Provider.objects.get(name="vllm-east").available is available
    assert events_of(in_org, "user:ada", start) == [
        "provider.created",
        "provider.updated",
        "provider.updated",
    ]


def test_landing_and_error_pages(browser):
    browser.driver.get(f"http://localhost:{browser.site.port}/")
    assert "Admission control for AI agents" in browser.text("h1")
    assert browser.exists("a[href='/api/v1/docs/']") and browser.exists("a[href='/admin/']")
    browser.screenshot("landing")

    browser.login("vic")
    browser.open("/dashboard/webhooks/")
    assert "Your role does not allow" in browser.text("h1")
    assert "manage_webhooks" in browser.text(".error-panel")
    assert browser.text("#request-id")  # the id to quote
    browser.screenshot("error_403")
    browser.open("/dashboard/no-such-page/")
    assert "This page does not exist" in browser.text("h1")
    browser.click_and_wait(browser.css(".topnav a[href='/dashboard/']"))
    assert browser.path == "/dashboard/"
    browser.open("/dashboard/no-such-page/")
    browser.screenshot("error_404")


def test_the_platform_admin_manages_organizations_on_the_bare_host(
    browser, browser_org, django_db_blocker, settings
):
    """``create_platform_admin`` makes the bare host's admin user: it signs in there and sees
    the organizations, and nothing of an org's own data."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the server's hashers
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        call_command(
            "create_platform_admin", "root", password=PLATFORM_PASSWORD, stdout=io.StringIO()
        )
    try:
        bare = f"http://localhost:{browser.site.port}"
        browser.driver.get(f"{bare}/admin/login/?next=/admin/")
        browser.css("#id_username").send_keys("root")
        browser.css("#id_password").send_keys(PLATFORM_PASSWORD)
        browser.click_and_wait(browser.css("#login-form [type=submit]"))
        assert browser.driver.current_url == f"{bare}/admin/", browser.text("#content")
        assert "platform admin" in browser.text("#site-name")
        browser.click_and_wait(browser.css("a[href='/admin/tenants/organization/']"))
        assert "browser" in browser.text("#result_list")
        assert not browser.exists("a[href='/admin/artifacts/conflict/']")
        # the org apps' "Not available for global schema" boxes are hidden
        assert "Not available" not in browser.text("#nav-sidebar")
        browser.screenshot("platform_admin")
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            get_user_model().objects.filter(username="root").delete()
