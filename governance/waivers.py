"""Waivers: narrow, dated exceptions to the policy. Created by a compliance officer or an org
admin with a justification and an end date no further than ``policy.max_waiver_days`` ahead;
each creation, use, expiry and revocation is audited in the same transaction.

Time is a parameter (``now``) wherever it matters, so expiry is tested without waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from access.actors import SYSTEM, Actor
from access.permissions import actor_can
from compliance.audit import audit_for
from governance.models import GovernancePolicy, Waiver
from governance.rules import WaiverTerms, clean_match
from metaqore_site.errors import GovernanceBlocked, GovernanceForbidden
from metaqore_site.governed import mark_audited

EXPIRING_SOON = timedelta(days=3)


def check_can_grant(actor: Actor) -> None:
    if actor.is_agent or not actor_can(actor, "grant_waiver"):
        raise GovernanceForbidden(
            "Only a compliance_officer or org_admin user may grant or revoke waivers.",
            code="role_forbidden",
        )


def waivers_in_force(now: datetime) -> QuerySet[Waiver]:
    """Waivers that apply at ``now``: created, not expired, not revoked (by then)."""
    return Waiver.objects.filter(
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=now),
        created_at__lte=now,
        expires_at__gt=now,
    )


def waivers_by_status(status: str, now: datetime | None = None) -> QuerySet[Waiver]:
    now = now or timezone.now()
    if status == "active":
        return waivers_in_force(now)
    if status == "expired":
        return Waiver.objects.filter(expires_at__lte=now, revoked_at__isnull=True)
    if status == "revoked":
        return Waiver.objects.filter(revoked_at__lte=now)
    raise ValueError(f"Unknown waiver status '{status}'.")


def waiver_terms(waivers: Sequence[Waiver]) -> list[WaiverTerms]:
    return [WaiverTerms(id=waiver.id, match=waiver.match) for waiver in waivers]


@transaction.atomic
def waiver_create(
    *,
    actor: Actor,
    match: dict,
    justification: str,
    expires_at: datetime,
    now: datetime | None = None,
) -> Waiver:
    check_can_grant(actor)
    now = now or timezone.now()
    match = clean_match(match)
    if not match:
        raise ValidationError(
            {"match": ["A waiver must be narrow: name at least one field to match."]}
        )
    if not justification or not justification.strip():
        raise ValidationError({"justification": ["Required: why this exception is granted."]})
    limit = GovernancePolicy.load().max_waiver_days
    if expires_at <= now:
        raise ValidationError({"expires_at": ["Must be in the future."]})
    if expires_at > now + timedelta(days=limit):
        raise ValidationError(
            {"expires_at": [f"At most {limit} days ahead (the policy's max_waiver_days)."]}
        )
    waiver = Waiver(
        match=match,
        justification=justification.strip(),
        expires_at=expires_at,
        created_by=str(actor),
        created_at=now,
    )
    mark_audited(waiver).save(force_insert=True)
    audit_for(
        "waiver.created",
        waiver,
        actor=actor,
        payload={
            "match": match,
            "justification": waiver.justification,
            "expires_at": expires_at.isoformat(),
        },
    )
    return waiver


@transaction.atomic
def waiver_revoke(
    *, waiver: Waiver, actor: Actor, reason: str = "", now: datetime | None = None
) -> Waiver:
    check_can_grant(actor)
    now = now or timezone.now()
    waiver = Waiver.objects.select_for_update().get(pk=waiver.pk)
    if waiver.revoked_at is not None:
        raise GovernanceBlocked(f"{waiver.id} is already revoked.", code="already_revoked")
    if waiver.expires_at <= now:
        raise GovernanceBlocked(f"{waiver.id} has already expired.", code="already_expired")
    waiver.revoked_at, waiver.revoked_by, waiver.revoke_reason = now, str(actor), reason
    mark_audited(waiver).save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    audit_for(
        "waiver.revoked",
        waiver,
        actor=actor,
        payload={"reason": reason, "uses": waiver.use_count},
    )
    return waiver


def waiver_record_use(
    *, waiver_id: str, conflict_id: str, artifact_id: str, actor: Actor, now: datetime
) -> None:
    """Count one use of a waiver (inside the declaration's transaction) and audit it."""
    Waiver.objects.filter(pk=waiver_id).update(use_count=F("use_count") + 1, last_used_at=now)
    waiver = Waiver(id=waiver_id)
    audit_for(
        "waiver.used",
        waiver,
        actor=actor,
        payload={"conflict_id": conflict_id, "artifact_id": artifact_id},
    )


@transaction.atomic
def waivers_expire(*, actor: Actor = SYSTEM, now: datetime | None = None) -> list[str]:
    """Record the expiry of every waiver whose end date has passed (once each). Expired
    waivers stop applying at ``expires_at`` whether or not this ran: it only writes the trail."""
    now = now or timezone.now()
    due = list(
        Waiver.objects.select_for_update(skip_locked=True)
        .filter(expires_at__lte=now, expiry_recorded=False, revoked_at__isnull=True)
        .order_by("expires_at", "id")
    )
    for waiver in due:
        waiver.expiry_recorded = True
        mark_audited(waiver).save(update_fields=["expiry_recorded"])
        audit_for(
            "waiver.expired",
            waiver,
            actor=actor,
            payload={"expires_at": waiver.expires_at.isoformat(), "uses": waiver.use_count},
        )
    return [waiver.id for waiver in due]
