"""Erasing personal data in a real browser: a compliance officer requests the erasure of an
agent's events on the Erasures page, a different org admin approves it there, the job redacts
the events, and the page no longer shows who it was."""

from __future__ import annotations

import pytest

from access.actors import Actor
from compliance.audit import audit_record
from compliance.erasure import erasure_execute
from compliance.models import AuditEvent, Erasure
from compliance.selectors import audit_chain_verify, unaudited_changes

pytestmark = pytest.mark.browser

XAVIER = Actor("agent", "xavier")


def select(element, value: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(element).select_by_value(value)


def test_officer_requests_admin_approves_the_job_redacts(browser, in_org):
    with in_org():
        for note in ("first", "second"):
            audit_record(event_type="task.updated", actor=XAVIER, payload={"note": note})

    # A compliance officer requests it: the form, then the row, without an Approve button
    browser.login("otto")
    browser.open("/dashboard/erasures/")
    form = browser.css("form#erasure-form")
    actor, field = (browser.css(f"input[name={name}]", within=form) for name in ("actor", "field"))
    assert actor.is_displayed() and not field.is_displayed()  # only what the choice needs
    select(browser.css("select[name=subject_kind]", within=form), "field")
    assert field.is_displayed() and not actor.is_displayed()
    assert browser.css("select[name=equals_type]", within=form).is_displayed()
    select(browser.css("select[name=subject_kind]", within=form), "actor")
    assert actor.is_displayed() and not field.is_displayed()
    browser.css("input[name=actor]", within=form).send_keys("agent:xavier")
    browser.css("textarea[name=reason]", within=form).send_keys("GDPR art. 17 request #12")
    browser.submit(form)
    assert "Erasure requested" in browser.text(".messages .success")
    with in_org():
        erasure = Erasure.objects.get()
        assert (erasure.subject, erasure.requested_by) == ({"actor": "agent:xavier"}, "user:otto")
    row = browser.css(f'tr[data-erasure="{erasure.id}"]')
    assert "every event of agent:xavier" in row.text and "requested" in row.text
    assert not browser.all("button", within=row)
    browser.screenshot("erasures")

    # A different person, an org admin, approves it (a confirm dialog first)
    browser.driver.delete_all_cookies()
    browser.login("ada")
    browser.open("/dashboard/erasures/")
    row = browser.css(f'tr[data-erasure="{erasure.id}"]')
    browser.submit(browser.css("form", within=row))
    assert "approved" in browser.text(".messages .success")
    with in_org():
        erasure.refresh_from_db()
        assert (erasure.status, erasure.approved_by) == (Erasure.APPROVED, "user:ada")
        # what the worker runs for the job the approval queued
        assert erasure_execute(erasure_id=erasure.id).events_redacted == 2
        assert not AuditEvent.objects.filter(actor="agent:xavier").exists()
        assert audit_chain_verify().ok
        assert unaudited_changes() == []

    browser.open("/dashboard/erasures/")
    row = browser.css(f'tr[data-erasure="{erasure.id}"]')
    assert "executed" in row.text and "every event of an agent (name erased)" in row.text
    assert "agent:xavier" not in browser.driver.page_source
