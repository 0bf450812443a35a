"""Signed checkpoints of an organization's audit chain.

A checkpoint signs (Ed25519, ``compliance.signing``) the canonical JSON of::

    {"format": "metaqore-checkpoint/1", "org": <slug>, "seq": <checkpoint number>,
     "event_count": <events 1..n covered>, "head_hash": <hash of event n>,
     "at": <UTC timestamp>, "previous_checkpoint_hash": <sha256 of the previous message>,
     "key_id": <signing key>}

Taken by the periodic job (``checkpoints_take_periodic``: only for orgs whose trail moved),
on demand by an org admin or auditor (``checkpoint_create``, itself an audited event that the
checkpoint covers), before an evidence bundle and at a retention boundary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from access.actors import Actor
from compliance.audit import audit_record, chain_head_lock, current_organization_slug
from compliance.chain import canonical_json, format_timestamp
from compliance.models import GENESIS_HASH, AuditCheckpoint, SigningKey, new_checkpoint_id
from compliance.signing import ALGORITHM, KeyPair, signature_valid, signing_key
from tenants.models import Organization

CHECKPOINT_FORMAT = "metaqore-checkpoint/1"
SIGNED_FIELDS = (
    "org",
    "seq",
    "event_count",
    "head_hash",
    "at",
    "previous_checkpoint_hash",
    "key_id",
)


def checkpoint_message(fields: Mapping[str, Any]) -> bytes:
    """The exact bytes a checkpoint's signature covers (``at`` already a canonical string)."""
    body = {"format": CHECKPOINT_FORMAT, **{name: fields[name] for name in SIGNED_FIELDS}}
    return canonical_json(body).encode("utf-8")


def checkpoint_as_dict(checkpoint: AuditCheckpoint, org: str) -> dict[str, Any]:
    """A checkpoint as published (API, evidence bundles): the signed fields and the signature."""
    return {
        "format": CHECKPOINT_FORMAT,
        "id": checkpoint.id,
        "org": org,
        "seq": checkpoint.seq,
        "event_count": checkpoint.event_count,
        "head_hash": checkpoint.head_hash,
        "at": format_timestamp(checkpoint.at),
        "previous_checkpoint_hash": checkpoint.previous_checkpoint_hash,
        "checkpoint_hash": checkpoint.checkpoint_hash,
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
        "kind": checkpoint.kind,
        "requested_by": checkpoint.requested_by,
    }


def signing_key_as_dict(key: SigningKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "algorithm": key.algorithm,
        "public_key": key.public_key,
        "valid_from": format_timestamp(key.valid_from),
        "valid_until": format_timestamp(key.valid_until) if key.valid_until else None,
    }


def signing_key_publish(pair: KeyPair, at: datetime) -> None:
    """Publish ``pair``'s public key for this org, closing the window of the key before it."""
    if SigningKey.objects.filter(key_id=pair.key_id).exists():
        return
    SigningKey.objects.filter(valid_until__isnull=True).update(valid_until=at)
    SigningKey.objects.create(
        key_id=pair.key_id, algorithm=ALGORITHM, public_key=pair.public_b64, valid_from=at
    )


def checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-seq").first()


def _sign_head(*, kind: str, requested_by: str, checkpoint_id: str) -> AuditCheckpoint:
    """Sign the chain head as it is now (the caller holds the head lock)."""
    event_count, head_hash = chain_head_lock()
    previous = checkpoint_latest()
    pair = signing_key()
    at = timezone.now()
    seq = (previous.seq if previous else 0) + 1
    previous_hash = previous.checkpoint_hash if previous else GENESIS_HASH
    fields = {
        "org": current_organization_slug(),
        "seq": seq,
        "event_count": event_count,
        "head_hash": head_hash,
        "at": format_timestamp(at),
        "previous_checkpoint_hash": previous_hash,
        "key_id": pair.key_id,
    }
    message = checkpoint_message(fields)
    signing_key_publish(pair, at)
    return AuditCheckpoint.objects.create(
        id=checkpoint_id,
        seq=seq,
        event_count=event_count,
        head_hash=head_hash,
        at=at,
        previous_checkpoint_hash=previous_hash,
        checkpoint_hash=hashlib.sha256(message).hexdigest(),
        key_id=pair.key_id,
        signature=pair.sign(message),
        kind=kind,
        requested_by=requested_by,
    )


@transaction.atomic
def checkpoint_create(*, actor: Actor | str, kind: str = AuditCheckpoint.KIND_ON_DEMAND):
    """Sign the current head now. Records ``compliance.checkpoint_created`` first, so the
    checkpoint covers its own request."""
    chain_head_lock()
    previous = checkpoint_latest()
    checkpoint_id = new_checkpoint_id()
    audit_record(
        event_type="compliance.checkpoint_created",
        actor=actor,
        resource_type="checkpoint",
        resource_id=checkpoint_id,
        payload={"checkpoint_seq": (previous.seq if previous else 0) + 1, "kind": kind},
    )
    return _sign_head(kind=kind, requested_by=str(actor), checkpoint_id=checkpoint_id)


@transaction.atomic
def checkpoint_if_moved(*, kind: str = AuditCheckpoint.KIND_PERIODIC) -> AuditCheckpoint | None:
    """A checkpoint of the head when events were appended since the last one, else None.
    Writes no audit event (it would move the trail it just signed)."""
    event_count, _hash = chain_head_lock()
    previous = checkpoint_latest()
    if event_count == (previous.event_count if previous else 0):
        return None
    return _sign_head(kind=kind, requested_by="system", checkpoint_id=new_checkpoint_id())


def checkpoint_covering(event_count: int) -> AuditCheckpoint:
    """The first checkpoint covering events 1..``event_count`` (signed now if none is)."""
    found = (
        AuditCheckpoint.objects.filter(event_count__gte=event_count).order_by("event_count").first()
    )
    if found is not None:
        return found
    return checkpoint_if_moved(kind=AuditCheckpoint.KIND_EVIDENCE) or checkpoint_latest()  # type: ignore[return-value]


def organizations() -> QuerySet[Organization]:
    return Organization.objects.exclude(schema_name=get_public_schema_name()).order_by("slug")


@dataclass
class PeriodicCheckpoint:
    org: str
    checkpoint: AuditCheckpoint | None


def checkpoints_take_periodic(slugs: Iterable[str] | None = None) -> list[PeriodicCheckpoint]:
    """The periodic job: a checkpoint for every org (or those named) whose trail moved."""
    orgs = organizations()
    if slugs is not None:
        orgs = orgs.filter(slug__in=list(slugs))
    taken = []
    for org in orgs:
        with schema_context(org.schema_name):
            taken.append(PeriodicCheckpoint(org.slug, checkpoint_if_moved()))
    return taken


@dataclass
class CheckpointProblem:
    seq: int
    reason: str


def checkpoints_verify(
    checkpoints: Iterable[AuditCheckpoint], *, org: str, keys: Mapping[str, SigningKey]
) -> CheckpointProblem | None:
    """Signatures, key windows and the checkpoints' own chain (in seq order, from the first
    given; its ``previous_checkpoint_hash`` is taken as is). None when all hold."""
    previous: AuditCheckpoint | None = None
    for checkpoint in checkpoints:
        fields = checkpoint_as_dict(checkpoint, org)
        message = checkpoint_message(fields)
        key = keys.get(checkpoint.key_id)
        if key is None:
            return CheckpointProblem(checkpoint.seq, f"unknown signing key {checkpoint.key_id}")
        if not signature_valid(key.public_key, checkpoint.signature, message):
            return CheckpointProblem(checkpoint.seq, "the signature does not verify")
        if checkpoint.at < key.valid_from or (key.valid_until and checkpoint.at > key.valid_until):
            return CheckpointProblem(checkpoint.seq, "signed outside its key's validity window")
        if hashlib.sha256(message).hexdigest() != checkpoint.checkpoint_hash:
            return CheckpointProblem(checkpoint.seq, "checkpoint_hash does not match its message")
        if previous is not None:
            if checkpoint.seq != previous.seq + 1:
                return CheckpointProblem(previous.seq + 1, "a checkpoint is missing")
            if checkpoint.previous_checkpoint_hash != previous.checkpoint_hash:
                return CheckpointProblem(checkpoint.seq, "does not link to the checkpoint before")
            if checkpoint.event_count < previous.event_count:
                return CheckpointProblem(checkpoint.seq, "covers fewer events than the one before")
        previous = checkpoint
    return None


def public_keys_list() -> dict[str, Any]:
    """The keys that signed this org's checkpoints (with their windows) and the current key
    (``valid_from`` null until it first signs for this org)."""
    current = signing_key()
    keys = [signing_key_as_dict(key) for key in SigningKey.objects.order_by("valid_from")]
    if not any(key["key_id"] == current.key_id for key in keys):
        keys.append(
            {
                "key_id": current.key_id,
                "algorithm": ALGORITHM,
                "public_key": current.public_b64,
                "valid_from": None,
                "valid_until": None,
            }
        )
    return {"current_key_id": current.key_id, "keys": keys}
