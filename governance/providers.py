"""Model providers of an org: the one write path (API, admin), audited with the actor."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from access.actors import Actor
from compliance.audit import audit_for, changes_payload, model_snapshot
from governance.models import Provider
from metaqore_site.governed import mark_audited

PROVIDER_FIELDS = ("name", "kind", "available", "latency_ms", "capacity_score", "priority")


@transaction.atomic
def provider_create(*, actor: Actor, **fields: Any) -> Provider:
    provider = Provider(**{k: v for k, v in fields.items() if k in PROVIDER_FIELDS})
    provider.full_clean()
    mark_audited(provider).save()
    audit_for(
        "provider.created",
        provider,
        actor=actor,
        payload={"after": model_snapshot(provider, PROVIDER_FIELDS)},
    )
    return provider


@transaction.atomic
def provider_update(*, provider: Provider, actor: Actor, changes: dict[str, Any]) -> Provider:
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    before = model_snapshot(provider, PROVIDER_FIELDS)
    for name, value in changes.items():
        if name not in PROVIDER_FIELDS or name == "name":
            raise ValueError(f"'{name}' cannot be changed")
        setattr(provider, name, value)
    payload = changes_payload(before, model_snapshot(provider, PROVIDER_FIELDS))
    if not payload["after"]:
        return provider
    provider.full_clean()
    mark_audited(provider).save()
    audit_for("provider.updated", provider, actor=actor, payload=payload)
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider, actor: Actor) -> None:
    audit_for(
        "provider.deleted",
        provider,
        actor=actor,
        payload={"before": model_snapshot(provider, PROVIDER_FIELDS)},
    )
    mark_audited(provider).delete()
