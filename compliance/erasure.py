"""Erasure of personal data from the audit trail, without breaking its chain.

Four eyes: a compliance officer requests (``erasure_request``), a different org admin approves
(``erasure_approve``, which enqueues the job in its transaction), the job executes
(``erasure_execute``). Each step is an audited event that never carries the erased value.

Execution redacts the matching events in place through the one governed update the database
allows: the SECURITY DEFINER function ``metaqore_audit_erase`` (``compliance.definers``), which
checks the erasure is approved and blanks only the personal fields and the salt, setting
``erasure_id``; the runtime role cannot update events itself. Chain version 2 events keep their
``personal_digest``, so the chain, checkpoints and evidence bundles still verify.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from access.actors import Actor
from access.permissions import actor_can
from compliance.audit import audit_for
from compliance.definers import ERASE_FUNCTION
from compliance.models import Erasure
from jobs.queue import enqueue, org_task
from metaqore_site.errors import GovernanceBlocked, GovernanceForbidden

# any name an agent or user may have (1-200 characters), without control characters
ACTOR_SUBJECT = re.compile(r"^(agent|user):(?=\S)[^\x00-\x1f\x7f]{1,200}$")
FIELD_PATH = re.compile(r"^payload(\.[A-Za-z0-9_\-]{1,100}){1,10}$")
REDACTED_ACTOR = "redacted"
MAX_EQUALS = 1000
MAX_NUMBER = 2**53 - 1  # exact in JSON everywhere


class SubjectError(ValueError):
    """A subject that names nothing erasable (the message says why)."""


def erasure_subject_clean(value: Any) -> dict[str, Any]:
    """``"agent:x"`` / ``"user:y"`` → ``{"actor": …}``; ``{"field": "payload.a.b", "equals":
    scalar}`` as given. SubjectError otherwise."""
    if isinstance(value, str):
        if not ACTOR_SUBJECT.match(value):
            raise SubjectError("An actor subject is 'agent:<name>' or 'user:<name>'.")
        return {"actor": value}
    if isinstance(value, dict) and set(value) == {"actor"}:  # already cleaned
        return erasure_subject_clean(value["actor"])
    if isinstance(value, dict) and set(value) == {"field", "equals"}:
        path = value["field"]
        if not isinstance(path, str) or not FIELD_PATH.match(path):
            raise SubjectError("'field' is 'payload.<key>[.<key>…]' (letters, digits, _ and -).")
        equals = value["equals"]
        if not isinstance(equals, str | int | float | bool):
            raise SubjectError("'equals' is a string, number or boolean.")
        if isinstance(equals, str) and ("\x00" in equals or len(equals) > MAX_EQUALS):
            raise SubjectError(f"'equals' is at most {MAX_EQUALS} characters, without NUL.")
        if not isinstance(equals, str | bool) and abs(equals) > MAX_NUMBER:
            raise SubjectError(f"'equals' is a number within ±{MAX_NUMBER}.")
        return {"field": path, "equals": value["equals"]}
    raise SubjectError(
        'Give \'agent:<name>\', \'user:<name>\' or {"field": "payload.<path>", "equals": value}.'
    )


def _kind(subject: dict[str, Any]) -> dict[str, str]:
    """What may be said about a subject without the erased value."""
    if "actor" in subject:
        return {"subject_kind": subject["actor"].split(":", 1)[0]}
    return {"subject_kind": "field", "field": subject["field"]}


@transaction.atomic
def erasure_request(*, actor: Actor, subject: Any, reason: str) -> Erasure:
    if not actor_can(actor, "request_erasure"):
        raise GovernanceForbidden("Only a compliance officer may request an erasure.")
    cleaned = erasure_subject_clean(subject)
    erasure = Erasure.objects.create(
        subject=cleaned, reason=reason, requested_by=str(actor), requested_at=timezone.now()
    )
    audit_for(
        "compliance.erasure_requested",
        erasure,
        actor=actor,
        payload={**_kind(cleaned), "reason": reason},
    )
    return erasure


@transaction.atomic
def erasure_approve(*, actor: Actor, erasure: Erasure) -> Erasure:
    """Approve (a different person than the requester, an org admin) and enqueue the job."""
    erasure = Erasure.objects.select_for_update().get(pk=erasure.pk)
    if not actor_can(actor, "approve_erasure"):
        raise GovernanceForbidden("Only an org admin may approve an erasure.")
    if str(actor) == erasure.requested_by:
        raise GovernanceForbidden(
            "The requester cannot approve their own erasure (four eyes).",
            code="separation_of_duties",
        )
    if erasure.status != Erasure.REQUESTED:
        raise GovernanceBlocked(f"The erasure is already {erasure.status}.", code="not_pending")
    erasure.status = Erasure.APPROVED
    erasure.approved_by = str(actor)
    erasure.approved_at = timezone.now()
    erasure.save(update_fields=["status", "approved_by", "approved_at"])
    audit_for("compliance.erasure_approved", erasure, actor=actor, payload=_kind(erasure.subject))
    enqueue(erasure_execute_job, erasure_id=erasure.id)
    return erasure


def _redact(erasure_id: str) -> int:
    # The database function checks the erasure is approved and blanks only the personal
    # columns of the events its subject names. An event an earlier erasure redacted may still
    # name this subject (a payload erased before its actor): it is redacted again, under this
    # erasure's id.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {ERASE_FUNCTION}(%s)", [erasure_id])
        return int(cursor.fetchone()[0])


@transaction.atomic
def erasure_execute(*, erasure_id: str, actor: Actor | str = "system") -> Erasure:
    """Redact every event the approved erasure names; idempotent (a retried job is a no-op)."""
    erasure = Erasure.objects.select_for_update().get(pk=erasure_id)
    if erasure.status == Erasure.EXECUTED:
        return erasure
    if erasure.status != Erasure.APPROVED:
        raise GovernanceBlocked("The erasure has not been approved.", code="not_approved")
    count = _redact(erasure.id)
    kind = _kind(erasure.subject)
    erasure.status = Erasure.EXECUTED
    erasure.executed_at = timezone.now()
    erasure.events_redacted = count
    erasure.subject = kind  # the value itself goes too
    erasure.save(update_fields=["status", "executed_at", "events_redacted", "subject"])
    audit_for(
        "compliance.erasure_executed",
        erasure,
        actor=actor,
        payload={**kind, "events_redacted": count},
    )
    return erasure


@org_task(name="compliance.erasure_execute", retry=5)
def erasure_execute_job(*, erasure_id: str) -> int:
    return erasure_execute(erasure_id=erasure_id).events_redacted or 0
