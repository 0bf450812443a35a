"""The server's verification of an org's chain and its signed checkpoints.

- ``verification_run(kind="incremental")`` (GET …/verify, the dashboard): from the newest
  checkpoint that a passed run already covered, so a request reads only what was appended
  since (the checkpoint's own signature and event are checked again);
- ``verification_run(kind="full")`` (the ``compliance.verify_full`` job, ``audit_verify``):
  from the genesis, or from the retention boundary, reporting progress on its
  ``AuditVerification`` row as it goes.

Both read the events in keyset chunks up to the head seen at the start (events are immutable;
redaction keeps them verifying), recompute the chain, verify every checkpoint's signature, key
window and link, and compare each checkpoint's ``head_hash`` with the stored event it signs. A
checkpoint that signs more events than the head holds means events were cut off the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.actors import Actor
from compliance.audit import current_organization_slug
from compliance.chain import EVENT_FIELDS, chain_verify, row_as_dict
from compliance.checkpoints import checkpoints_verify
from compliance.models import (
    GENESIS_HASH,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditVerification,
    SigningKey,
)
from compliance.selectors import unaudited_changes, unaudited_reason
from jobs.queue import enqueue, org_task

CHUNK = 5000
_SEQ = EVENT_FIELDS.index("seq")


@dataclass
class VerificationReport:
    ok: bool
    kind: str
    from_seq: int
    through_seq: int
    events_checked: int
    checkpoints_checked: int
    first_bad_seq: int | None
    head_hash: str | None
    reason: str | None
    verification_id: str
    # Changes of governed tables whose transaction wrote no event (compliance.guards)
    unaudited_changes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _head() -> tuple[int, str, int, str]:
    row = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash", "base_seq", "base_hash")
    return row.first() or (0, GENESIS_HASH, 0, GENESIS_HASH)


def _rows(after: int, upto: int, progress: Callable[[int], object] | None) -> Iterator[dict]:
    last = after
    while True:
        batch = list(
            AuditEvent.objects.filter(seq__gt=last, seq__lte=upto)
            .order_by("seq")
            .values_list(*EVENT_FIELDS)[:CHUNK]
        )
        if not batch:
            return
        yield from (row_as_dict(row) for row in batch)
        last = batch[-1][_SEQ]
        if progress is not None:
            progress(len(batch))


def _start(kind: str, base_seq: int) -> AuditCheckpoint | None:
    """The checkpoint an incremental run starts from (None: from the base)."""
    if kind != AuditVerification.KIND_INCREMENTAL:
        return None
    covered = (
        AuditVerification.objects.filter(status=AuditVerification.PASSED)
        .order_by("-through_seq")
        .values_list("through_seq", flat=True)
        .first()
    )
    if covered is None:
        return None
    return (
        AuditCheckpoint.objects.filter(event_count__lte=covered, event_count__gte=base_seq)
        .order_by("-seq")
        .first()
    )


def _checkpoint_problems(
    start: AuditCheckpoint | None, base_seq: int, base_hash: str, head_seq: int
) -> tuple[int, tuple[int, str] | None]:
    """(checkpoints checked, (seq, reason) of the first problem or None)."""
    checkpoints = AuditCheckpoint.objects.order_by("seq")
    if start is not None:
        checkpoints = checkpoints.filter(seq__gte=start.seq)
    listed = list(checkpoints)
    keys = {key.key_id: key for key in SigningKey.objects.all()}
    problem = checkpoints_verify(listed, org=current_organization_slug(), keys=keys)
    if problem is not None:
        at = next((c.event_count for c in listed if c.seq == problem.seq), problem.seq)
        return len(listed), (at, f"checkpoint #{problem.seq}: {problem.reason}")
    if base_seq and not any(
        c.event_count == base_seq and c.head_hash == base_hash
        for c in AuditCheckpoint.objects.filter(event_count=base_seq)
    ):
        return len(listed), (base_seq, "the retention boundary is not a signed checkpoint")
    beyond = [c for c in listed if c.event_count > head_seq]
    if beyond:
        return len(listed), (
            head_seq + 1,
            f"checkpoint #{beyond[0].seq} signs {beyond[0].event_count} events but the chain "
            f"ends at seq {head_seq}: events were removed from the end",
        )
    signed = {c.event_count: c for c in listed if c.event_count > base_seq}
    stored = dict(AuditEvent.objects.filter(seq__in=list(signed)).values_list("seq", "hash"))
    for count, checkpoint in sorted(signed.items()):
        if stored.get(count) != checkpoint.head_hash:
            return len(listed), (count, f"checkpoint #{checkpoint.seq} signs a different hash")
    return len(listed), None


def _finish(run: AuditVerification, report: VerificationReport) -> VerificationReport:
    run.status = AuditVerification.PASSED if report.ok else AuditVerification.FAILED
    run.finished_at = timezone.now()
    run.events_checked = report.events_checked
    run.checkpoints_checked = report.checkpoints_checked
    run.first_bad_seq = report.first_bad_seq
    run.reason = report.reason or ""
    run.save()
    return report


def verification_run(
    *,
    kind: str = AuditVerification.KIND_INCREMENTAL,
    actor: Actor | str = "system",
    run: AuditVerification | None = None,
) -> VerificationReport:
    """Verify now (outside any long transaction: progress is committed as it goes)."""
    head_seq, head_hash, base_seq, base_hash = _head()
    start = _start(kind, base_seq)
    start_count, start_hash = (
        (start.event_count, start.head_hash) if start else (base_seq, base_hash)
    )
    if run is None:
        run = AuditVerification(kind=kind, requested_by=str(actor), requested_at=timezone.now())
    run.status, run.from_seq, run.through_seq = AuditVerification.RUNNING, start_count + 1, head_seq
    run.events_total, run.events_checked = head_seq - start_count, 0
    run.save()

    def progress(count: int) -> None:
        run.events_checked += count
        AuditVerification.objects.filter(pk=run.pk).update(events_checked=run.events_checked)

    result = chain_verify(
        _rows(start_count, head_seq, progress if kind == AuditVerification.KIND_FULL else None),
        start_seq=start_count + 1,
        start_hash=start_hash,
        expected_count=head_seq,
    )
    checked, problem = _checkpoint_problems(start, base_seq, base_hash, head_seq)
    reason, bad = result.reason, result.first_bad_seq
    if result.ok and head_seq > start_count and result.head_hash != head_hash:
        reason, bad = "the chain head's hash does not match the last event", head_seq
    if (reason is None and problem is not None) or (
        problem is not None and bad is not None and problem[0] < bad
    ):
        bad, reason = problem
    now_seq, _hash, now_base, _base_hash = _head()
    if reason is None and AuditEvent.objects.filter(seq__gt=now_seq).exists():
        # an append moves the head in its own transaction: a row past it was not appended
        bad, reason = now_seq + 1, f"events after the chain head (seq {now_seq})"
    if now_base != base_seq:
        bad, reason = None, "retention removed events during the run: run it again"
    unaudited = unaudited_changes()
    if reason is None and unaudited:
        reason = unaudited_reason(unaudited)
    report = VerificationReport(
        ok=reason is None,
        kind=kind,
        from_seq=start_count + 1,
        through_seq=head_seq,
        events_checked=result.events_checked,
        checkpoints_checked=checked,
        first_bad_seq=bad,
        head_hash=result.head_hash,
        reason=reason,
        verification_id=run.pk,
        unaudited_changes=unaudited,
    )
    return _finish(run, report)


@transaction.atomic
def verification_request(*, actor: Actor | str) -> AuditVerification:
    """Queue a full verification (the job reports progress on the returned row)."""
    run = AuditVerification.objects.create(
        kind=AuditVerification.KIND_FULL, requested_by=str(actor), requested_at=timezone.now()
    )
    enqueue(verify_full, verification_id=run.pk)
    return run


@org_task(name="compliance.verify_full", retry=2)
def verify_full(*, verification_id: str) -> bool:
    run = AuditVerification.objects.get(pk=verification_id)
    if run.status in (AuditVerification.PASSED, AuditVerification.FAILED):
        return run.status == AuditVerification.PASSED
    return verification_run(kind=AuditVerification.KIND_FULL, run=run).ok
