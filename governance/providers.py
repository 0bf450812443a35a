"""Model providers of an org: the one write path (API, admin), audited with the actor."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from access.actors import Actor
from compliance.audit import audit_record, changes_payload, model_snapshot
from governance.models import Provider
from metaqore_site.governed import mark_audited

PROVIDER_FIELDS = ("name", "kind", "available", "latency_ms", "capacity_score", "priority")


def _audit(event_type: str, provider: Provider, actor: Actor, payload: dict) -> None:
    audit_record(
        event_type=event_type,
        actor=actor,
        provider=provider.name,
        resource_type="provider",
        resource_id=provider.name,
        payload=payload,
    )


@transaction.atomic
def provider_create(*, actor: Actor, **fields: Any) -> Provider:
    provider = Provider(**{k: v for k, v in fields.items() if k in PROVIDER_FIELDS})
    provider.full_clean()
    mark_audited(provider).save()
    _audit(
        "provider.created", provider, actor, {"after": model_snapshot(provider, PROVIDER_FIELDS)}
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
    _audit("provider.updated", provider, actor, payload)
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider, actor: Actor) -> None:
    _audit(
        "provider.deleted", provider, actor, {"before": model_snapshot(provider, PROVIDER_FIELDS)}
    )
    mark_audited(provider).delete()
