"""Signed checkpoints: on demand (API, command), periodic, key rotation, the database's guard."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import DatabaseError, transaction

from access.actors import Actor
from compliance.audit import audit_record
from compliance.checkpoints import (
    checkpoint_as_dict,
    checkpoint_create,
    checkpoint_if_moved,
    checkpoint_message,
    checkpoints_take_periodic,
    checkpoints_verify,
)
from compliance.models import AuditCheckpoint, AuditEvent, SigningKey
from compliance.signing import KEY_ENV, signature_valid, signing_key
from compliance.tasks import checkpoint as checkpoint_task
from tests.compliance.conftest import events_after, last_seq
from tests.conftest import client_for

CHECKPOINTS = "/api/v1/governance/compliance/checkpoints"
PUBLIC_KEYS = "/api/v1/governance/compliance/public-keys"
CODER = Actor("agent", "coder")


def seed(count: int = 3) -> None:
    for index in range(count):
        audit_record(event_type="task.updated", actor=CODER, payload={"i": index})


def keys_by_id() -> dict[str, SigningKey]:
    return {key.key_id: key for key in SigningKey.objects.all()}


def new_seed() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


def test_auditor_takes_a_checkpoint_that_covers_its_own_request(org_a, auditor):
    seed()
    before = last_seq()
    response = auditor.post(CHECKPOINTS)
    assert response.status_code == 201, response.content
    body = response.json()
    [event] = events_after(before)
    assert (event.event_type, event.actor) == ("compliance.checkpoint_created", "user:audrey")
    assert event.resource_id == body["id"] and event.payload["checkpoint_seq"] == body["seq"]
    assert body["event_count"] == event.seq and body["head_hash"] == event.hash
    assert body["org"] == "alpha" and body["requested_by"] == "user:audrey"

    keys = client_for(org_a).get(PUBLIC_KEYS)  # public: no credential
    assert keys.status_code == 200
    [key] = [k for k in keys.json()["keys"] if k["key_id"] == body["key_id"]]
    assert key["algorithm"] == "Ed25519" and key["valid_from"] is not None
    assert signature_valid(key["public_key"], body["signature"], checkpoint_message(body))
    forged = {**body, "event_count": body["event_count"] - 1}
    assert not signature_valid(key["public_key"], body["signature"], checkpoint_message(forged))

    listed = auditor.get(CHECKPOINTS).json()
    assert listed["results"][0] == body


@pytest.mark.parametrize("client_name", ["viewer", "officer"])
def test_only_admins_and_auditors_take_checkpoints(org_a, request, client_name):
    client = request.getfixturevalue(client_name)
    assert client.post(CHECKPOINTS).status_code == 403
    assert not AuditCheckpoint.objects.exists()


def test_checkpoints_chain_and_the_periodic_job_signs_only_a_moved_trail(org_a):
    seed()
    first = checkpoint_if_moved()
    assert first is not None and first.seq == 1 and first.event_count == last_seq()
    count = AuditEvent.objects.count()
    assert checkpoint_if_moved() is None  # nothing moved
    assert AuditEvent.objects.count() == count  # and the job wrote no event
    seed(2)
    [taken] = [t for t in checkpoints_take_periodic(["alpha"])]
    second = taken.checkpoint
    assert second is not None and second.seq == 2
    assert second.previous_checkpoint_hash == first.checkpoint_hash
    assert second.event_count == last_seq() and second.kind == "periodic"
    checkpoints = list(AuditCheckpoint.objects.order_by("seq"))
    assert checkpoints_verify(checkpoints, org="alpha", keys=keys_by_id()) is None


def test_a_forged_checkpoint_fails_verification(org_a):
    seed()
    checkpoint = checkpoint_create(actor="system")
    checkpoint.head_hash = "f" * 64  # in memory: what a forger would publish
    problem = checkpoints_verify([checkpoint], org="alpha", keys=keys_by_id())
    assert problem is not None and problem.reason == "the signature does not verify"
    other_org = checkpoints_verify([AuditCheckpoint.objects.get()], org="beta", keys=keys_by_id())
    assert other_org is not None  # the org is part of what is signed


def test_key_rotation_keeps_old_checkpoints_valid(org_a, monkeypatch):
    old_seed = new_seed()
    monkeypatch.setenv(KEY_ENV, old_seed)
    old_key = signing_key().key_id
    seed()
    old = checkpoint_create(actor="system")
    monkeypatch.setenv(KEY_ENV, new_seed())
    seed()
    new = checkpoint_create(actor="system")
    assert (old.key_id, new.key_id) == (old_key, signing_key().key_id) and old_key != new.key_id
    keys = keys_by_id()
    assert keys[old_key].valid_until == new.at and keys[new.key_id].valid_until is None
    assert checkpoints_verify([old, new], org="alpha", keys=keys) is None
    published = client_for(org_a).get(PUBLIC_KEYS).json()
    assert published["current_key_id"] == new.key_id
    assert [k["key_id"] for k in published["keys"]] == [old_key, new.key_id]
    # the old key (if it leaked) signing after its window closed is refused
    late = copy.copy(old)
    late.at = new.at + timedelta(days=1)
    message = checkpoint_message(checkpoint_as_dict(late, "alpha"))
    monkeypatch.setenv(KEY_ENV, old_seed)
    late.signature = signing_key().sign(message)
    late.checkpoint_hash = hashlib.sha256(message).hexdigest()
    problem = checkpoints_verify([late], org="alpha", keys=keys)
    assert problem is not None and "validity window" in problem.reason


def test_rotation_command_replaces_the_data_dir_key(org_a, monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("METAQORE_DATA_DIR", str(tmp_path))
    before = signing_key()
    assert (tmp_path / "signing" / "ed25519.pem").stat().st_mode & 0o077 == 0
    out = io.StringIO()
    call_command("signing_key_rotate", stdout=out)
    after = signing_key()
    assert after.key_id != before.key_id and before.key_id in out.getvalue()
    assert (tmp_path / "signing" / "retired" / f"{before.key_id}.pub").read_text().strip() == (
        before.public_b64
    )


def test_checkpoints_are_append_only(org_a):
    seed()
    checkpoint = checkpoint_create(actor="system")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(head_hash="0" * 64)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).delete()


def test_checkpoint_command(org_a):
    seed()
    out = io.StringIO()
    call_command("audit_checkpoint", "--org", "alpha", stdout=out)
    checkpoint = AuditCheckpoint.objects.get()
    assert f"alpha: checkpoint #1 signs events 1..{checkpoint.event_count}" in out.getvalue()
    [event] = events_after(checkpoint.event_count - 1)
    assert (event.event_type, event.actor) == ("compliance.checkpoint_created", "system")
    out = io.StringIO()
    call_command("audit_checkpoint", "--all", stdout=out)
    assert "alpha: unchanged since its last checkpoint" in out.getvalue()


def test_the_checkpoint_job_signs_a_moved_trail_once(org_a):
    seed()
    taken = checkpoint_task.task(org=org_a.schema_name)
    assert taken == AuditCheckpoint.objects.get().seq
    assert checkpoint_task.task(org=org_a.schema_name) == 0
