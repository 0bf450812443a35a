"""Retention: old events are sealed into an archive bundle, removed through the one governed
delete, and verification (server, offline, evidence bundles) continues across the boundary."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, transaction

from access.actors import Actor
from compliance import retention
from compliance.audit import audit_record
from compliance.checkpoints import checkpoint_if_moved
from compliance.evidence import evidence_prepare, evidence_write
from compliance.models import PRUNE_SETTING, AuditChainHead, AuditEvent
from compliance.retention import ARCHIVE_ENV, PruneStep, prune_steps, retention_apply
from compliance.selectors import audit_chain_verify
from governance.models import GovernancePolicy
from governance.tasks import audit_retention
from metaqore_client.evidence import verify_bundle
from tests.compliance.conftest import events_after, last_seq, raw_sql

CODER = Actor("agent", "coder")


def seed(count: int) -> None:
    for index in range(count):
        audit_record(event_type="task.updated", actor=CODER, payload={"i": index})


@pytest.fixture
def archive(monkeypatch, tmp_path):
    folder = tmp_path / "archive"
    monkeypatch.setenv(ARCHIVE_ENV, str(folder))
    return folder


@pytest.fixture
def aged(org_a, archive):
    """Old events under a signed checkpoint, then newer ones; ``now`` puts the window's edge
    right between them (30-day window)."""
    seed(3)
    boundary = checkpoint_if_moved()
    seed(3)
    first_new = AuditEvent.objects.get(seq=boundary.event_count + 1)
    return boundary, first_new.timestamp + timedelta(days=30)


def test_retention_archives_removes_and_verification_continues(aged, archive, auditor, tmp_path):
    boundary, now = aged
    head = last_seq()
    done = retention_apply(days=30, now=now)
    assert done is not None
    assert (done.removed_through_seq, done.events_removed) == (
        boundary.event_count,
        boundary.event_count,
    )
    assert done.checkpoint_seq == boundary.seq

    # removed, and the head knows where the stored chain starts
    assert not AuditEvent.objects.filter(seq__lte=boundary.event_count).exists()
    head_row = AuditChainHead.objects.get()
    assert (head_row.base_seq, head_row.base_hash) == (boundary.event_count, boundary.head_hash)
    [event] = events_after(head)
    assert event.event_type == "compliance.retention_applied"
    assert event.payload["removed_through_seq"] == boundary.event_count
    assert event.payload["archive"] == done.archive.name and event.payload["days"] == 30

    # the archive is an evidence bundle of exactly what went, verifiable offline
    assert done.archive.parent == archive / "alpha"
    sealed = verify_bundle(str(done.archive))
    assert sealed.ok, sealed.problems
    assert (sealed.first_seq, sealed.last_seq) == (1, boundary.event_count)

    # the server's verification continues from the boundary
    assert audit_chain_verify().ok
    assert auditor.get("/api/v1/governance/compliance/verify").json()["ok"] is True
    seed(2)
    assert audit_chain_verify().ok

    # a bundle of what is left starts at the boundary, where the archive ends
    path = tmp_path / "after.zip"
    evidence_write(evidence_prepare(actor=CODER), str(path))
    after = verify_bundle(str(path))
    assert after.ok and after.first_seq == boundary.event_count + 1, after.problems
    with zipfile.ZipFile(path) as bundle, zipfile.ZipFile(done.archive) as old:
        start = json.loads(bundle.read("manifest.json"))["start"]
        end = json.loads(old.read("manifest.json"))["end_event_count"]
    assert start == {"event_count": end, "head_hash": boundary.head_hash}

    # nothing older left: a second run does nothing
    assert retention_apply(days=30, now=now) is None


def test_a_long_trail_is_removed_in_batches_each_through_a_signed_checkpoint(
    org_a, archive, monkeypatch
):
    """Each batch is its own transaction (the org's writes wait only for one batch) and
    records its own event; together they remove what the one archive holds."""
    monkeypatch.setattr(retention, "PRUNE_BATCH_EVENTS", 5)
    checkpoints = []
    for _ in range(4):
        seed(3)
        checkpoints.append(checkpoint_if_moved())
    seed(2)
    boundary = checkpoints[-1]
    now = AuditEvent.objects.get(seq=boundary.event_count + 1).timestamp + timedelta(days=30)
    head = last_seq()

    done = retention_apply(days=30, now=now)

    assert done is not None
    assert (done.removed_through_seq, done.checkpoint_seq) == (boundary.event_count, boundary.seq)
    assert done.events_removed == boundary.event_count
    batches = [e.payload for e in events_after(head)]
    assert all(e.event_type == "compliance.retention_applied" for e in events_after(head))
    assert len(batches) > 1
    signed = {c.event_count: c.seq for c in checkpoints}
    assert all(signed.get(b["removed_through_seq"]) == b["checkpoint_seq"] for b in batches)
    previous = 0
    for batch in batches:  # at most a batch, unless the next checkpoint alone is further
        through = batch["removed_through_seq"]
        skipped = [count for count in signed if previous < count < through]
        assert batch["events_removed"] == through - previous
        assert through - previous <= 5 or not skipped
        previous = through
    assert sum(b["events_removed"] for b in batches) == boundary.event_count
    assert {(b["archive"], b["archive_sha256"]) for b in batches} == {
        (done.archive.name, done.archive_sha256)
    }
    assert AuditChainHead.objects.get().base_seq == boundary.event_count
    assert audit_chain_verify().ok
    sealed = verify_bundle(str(done.archive))
    assert sealed.ok and (sealed.first_seq, sealed.last_seq) == (1, boundary.event_count)


def step(count: int) -> PruneStep:
    return PruneStep(count, f"hash-{count}", count)


@pytest.mark.parametrize(
    ("base", "counts", "batch", "through"),
    [
        (0, [10, 20, 30, 40], 25, [20, 40]),  # as far as a batch reaches, then the boundary
        (0, [10, 20, 30, 40], 100, [40]),  # one transaction when it all fits
        (0, [60, 70], 25, [60, 70]),  # checkpoints further apart than a batch: one each
        (30, [35, 80, 90], 25, [35, 80, 90]),  # from the base the last run left
        (0, [40], 25, [40]),  # the boundary alone
    ],
)
def test_prune_steps(base, counts, batch, through):
    steps = prune_steps(base, [step(count) for count in counts], batch)
    assert [s.event_count for s in steps] == through


def test_a_removed_event_after_the_boundary_is_still_detected(aged):
    boundary, now = aged
    retention_apply(days=30, now=now)
    raw_sql("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
    raw_sql("DELETE FROM compliance_auditevent WHERE seq = %s", [boundary.event_count + 2])
    result = audit_chain_verify()
    assert not result.ok and result.first_bad_seq == boundary.event_count + 2


def test_the_database_deletes_only_what_retention_declared(aged):
    boundary, _now = aged
    with pytest.raises(DatabaseError, match="only by retention"), transaction.atomic():
        raw_sql("DELETE FROM compliance_auditevent WHERE seq = 1")
    with pytest.raises(DatabaseError, match="only by retention"), transaction.atomic():
        raw_sql("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, str(boundary.event_count)])
        raw_sql("DELETE FROM compliance_auditevent WHERE seq = %s", [boundary.event_count + 1])
    assert AuditEvent.objects.filter(seq=1).exists()


def test_nothing_is_removed_inside_the_window(org_a, archive):
    seed(3)
    checkpoint_if_moved()
    assert retention_apply(days=30) is None
    assert AuditEvent.objects.filter(seq=1).exists() and not archive.exists()


def test_the_policy_sets_the_window_and_the_job_applies_it(org_a, org_admin, archive):
    seed(2)
    checkpoint_if_moved()
    assert audit_retention.task(org=org_a.schema_name) == 0  # unset: keep forever
    refused = org_admin.patch(
        "/api/v1/governance/policy", {"audit_retention_days": 0}, format="json"
    )
    assert refused.status_code == 400 and "audit_retention_days" in refused.json()
    changed = org_admin.patch(
        "/api/v1/governance/policy", {"audit_retention_days": 1}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["audit_retention_days"] == 1
    assert GovernancePolicy.load().audit_retention_days == 1
    assert audit_retention.task(org=org_a.schema_name) == 0  # nothing is a day old yet


def test_retention_command(aged, archive):
    _boundary, _now = aged
    out = io.StringIO()
    call_command("audit_retention", "--org", "alpha", stdout=out)
    assert "'alpha' keeps its audit trail forever" in out.getvalue()
    out = io.StringIO()
    call_command("audit_retention", "--org", "alpha", "--days", "30", stdout=out)
    assert "'alpha': nothing older than 30 days to archive." in out.getvalue()


def test_the_runtime_role_prunes_through_the_definer_function_only(aged, runtime_role):
    """As the role the server and workers use: no DELETE of events of its own (whatever the
    session declares), retention still removes up to the boundary, verification continues."""
    boundary, now = aged
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        raw_sql("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, str(boundary.event_count)])
        raw_sql("DELETE FROM compliance_auditevent WHERE seq = 1")
    with pytest.raises(DatabaseError, match="chain base moves only"), transaction.atomic():
        raw_sql("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, str(boundary.event_count)])
        raw_sql("UPDATE compliance_auditchainhead SET base_seq = %s", [boundary.event_count])
    for upto, head_hash in ((boundary.event_count, "0" * 64), (last_seq(), boundary.head_hash)):
        with pytest.raises(DatabaseError, match="not a signed checkpoint"), transaction.atomic():
            raw_sql("SELECT metaqore_audit_prune(%s, %s)", [upto, head_hash])
    done = retention_apply(days=30, now=now)
    assert done is not None and done.events_removed == boundary.event_count
    assert not AuditEvent.objects.filter(seq__lte=boundary.event_count).exists()
    assert AuditChainHead.objects.get().base_seq == boundary.event_count
    assert audit_chain_verify().ok
