"""The server's verification: incremental in requests (from the last verified checkpoint), full
as a job with progress, and the checkpoints checked against the stored chain."""

from __future__ import annotations

from procrastinate.contrib.django.models import ProcrastinateJob

from access.actors import Actor
from compliance.audit import audit_record
from compliance.checkpoints import checkpoint_if_moved
from compliance.models import AuditChainHead, AuditVerification
from compliance.tasks import verify_full
from compliance.verification import verification_run
from tests.compliance.conftest import disable_audit_triggers, last_seq, raw_sql

VERIFY = "/api/v1/governance/compliance/verify"
VERIFICATIONS = "/api/v1/governance/compliance/verifications"
CODER = Actor("agent", "coder")


def seed(count: int) -> None:
    for index in range(count):
        audit_record(event_type="task.updated", actor=CODER, payload={"i": index})


def test_a_request_verifies_from_the_last_verified_checkpoint(org_a, auditor):
    seed(5)
    first = auditor.get(VERIFY).json()
    assert first["ok"] and first["from_seq"] == 1
    seed(1)
    checkpoint = checkpoint_if_moved()  # signs one event the first run did not read
    second = auditor.get(VERIFY).json()
    assert second["from_seq"] == 1  # no verified checkpoint yet: from the genesis
    seed(3)
    third = auditor.get(VERIFY).json()
    assert third["ok"] and third["kind"] == "incremental", third
    assert third["from_seq"] == checkpoint.event_count + 1
    assert third["events_checked"] == last_seq() - checkpoint.event_count
    assert third["checkpoints_checked"] == 1


def test_tampering_behind_a_verified_checkpoint_is_found_by_the_full_job(org_a, auditor):
    seed(5)
    checkpoint = checkpoint_if_moved()
    seed(2)
    assert auditor.get(VERIFY).json()["ok"]
    disable_audit_triggers()
    raw_sql("UPDATE compliance_auditevent SET event_type = 'forged' WHERE seq = 2")
    assert auditor.get(VERIFY).json()["ok"]  # a request reads only what follows the checkpoint

    queued = auditor.post(VERIFICATIONS)
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    [job] = ProcrastinateJob.objects.filter(task_name="compliance.verify_full")
    assert job.args["verification_id"] == queued.json()["id"]
    assert verify_full.task(org=org_a.schema_name, verification_id=queued.json()["id"]) is False
    run = auditor.get(f"{VERIFICATIONS}/{queued.json()['id']}").json()
    assert run["status"] == "failed" and run["first_bad_seq"] == 2
    assert run["kind"] == "full" and run["events_total"] == last_seq()
    assert "hash does not match" in run["reason"]
    assert checkpoint.event_count > 2


def test_a_full_run_reports_its_progress(org_a):
    seed(3)
    checkpoint_if_moved()
    report = verification_run(kind="full")
    run = AuditVerification.objects.get(pk=report.verification_id)
    assert report.ok and run.status == "passed"
    assert run.events_checked == run.events_total == last_seq()
    assert run.checkpoints_checked == 1 and run.finished_at is not None


def test_events_cut_off_the_end_are_caught_by_a_later_checkpoint(org_a):
    seed(4)
    checkpoint = checkpoint_if_moved()
    disable_audit_triggers()
    # remove the last two events and move the head back, as a careful tamperer would
    raw_sql("DELETE FROM compliance_auditevent WHERE seq > %s", [checkpoint.event_count - 2])
    head = last_seq()
    raw_sql(
        "UPDATE compliance_auditchainhead SET seq = %s, hash = (SELECT hash FROM "
        "compliance_auditevent WHERE seq = %s)",
        [head, head],
    )
    assert AuditChainHead.objects.get().seq == head
    report = verification_run(kind="full")
    assert not report.ok and report.first_bad_seq == head + 1
    assert "events were removed from the end" in report.reason


def test_a_forged_checkpoint_row_fails_verification(org_a):
    seed(2)
    checkpoint = checkpoint_if_moved()
    raw_sql("ALTER TABLE compliance_auditcheckpoint DISABLE TRIGGER USER")
    raw_sql("UPDATE compliance_auditcheckpoint SET head_hash = %s", ["f" * 64])
    report = verification_run(kind="full")
    assert not report.ok and report.first_bad_seq == checkpoint.event_count
    assert "signature does not verify" in report.reason
