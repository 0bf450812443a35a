"""Retention: events older than the org's window are sealed into an evidence bundle in
``METAQORE_ARCHIVE_DIR``, then removed through the one governed path that may delete audit
rows; verification continues from the signed checkpoint at the boundary.

The boundary is the newest signed checkpoint whose events are all older than the window
(checkpoints are taken every 10 minutes when the trail moves, so little that could go stays);
without one, a checkpoint is signed first. In order:

1. write the bundle (events after the previous boundary up to this one, their checkpoints, the
   public keys, a signed manifest) to ``<archive dir>/<org>/`` and read it back: the chain in
   the file must end at the boundary checkpoint's hash;
2. delete the events up to the boundary and move the chain head's base there through
   ``metaqore_audit_prune`` (``compliance.definers``: the only delete of events the database
   allows, and only up to a signed checkpoint), and record ``compliance.retention_applied``
   (the archive's name and sha256 with it) in the same transaction.

Step 2 runs in batches of whole checkpoints, each its own transaction of at most about
``PRUNE_BATCH_EVENTS`` events: a transaction holds the org's chain head, so every write of the
org waits for it, and a first run over years of events must not stop the org for minutes.
Each batch removes up to a signed checkpoint and records its own event, so the trail is whole
after each one; a run that stops between batches leaves a shorter trail that still verifies,
and the next run archives and removes the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from access.actors import Actor
from compliance.audit import audit_record, chain_head_lock, current_organization_slug
from compliance.chain import chain_verify, format_timestamp
from compliance.checkpoints import checkpoint_as_dict, checkpoint_if_moved, signing_key_as_dict
from compliance.definers import PRUNE_FUNCTION
from compliance.evidence import Bundle, evidence_write
from compliance.models import (
    GENESIS_HASH,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    SigningKey,
)
from metaqore_site.embedded_db import default_data_dir

ARCHIVE_ENV = "METAQORE_ARCHIVE_DIR"
PRUNE_BATCH_EVENTS = 50_000


class RetentionError(RuntimeError):
    """The archive could not be written or did not read back intact: nothing was removed."""


@dataclass
class RetentionResult:
    removed_through_seq: int
    events_removed: int
    archive: Path
    archive_sha256: str
    checkpoint_seq: int


def archive_dir() -> Path:
    configured = os.environ.get(ARCHIVE_ENV, "").strip()
    return Path(configured) if configured else default_data_dir() / "archive"


def chain_base() -> tuple[int, str]:
    """(seq, hash) the first stored event chains from: the genesis, or the last boundary."""
    row = AuditChainHead.objects.filter(pk=1).values_list("base_seq", "base_hash").first()
    return row or (0, GENESIS_HASH)


def _boundary(cutoff: datetime) -> AuditCheckpoint | None:
    """The newest checkpoint all of whose events are older than ``cutoff``."""
    last_old = (
        AuditEvent.objects.filter(timestamp__lt=cutoff)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    if last_old is None:
        return None
    found = (
        AuditCheckpoint.objects.filter(event_count__lte=last_old)
        .order_by("-event_count", "-seq")
        .first()
    )
    if found is None or found.event_count < last_old:
        # the whole trail may be old, or no checkpoint was ever signed: sign the head now and
        # use it if it is inside the window.
        taken = checkpoint_if_moved(kind=AuditCheckpoint.KIND_RETENTION)
        if taken is not None and taken.event_count <= last_old:
            return taken
    return found


def _seal(boundary: AuditCheckpoint, base: tuple[int, str], days: int, actor: str) -> Path:
    organization = current_organization_slug()
    base_seq, base_hash = base
    start = AuditCheckpoint.objects.filter(event_count=base_seq).order_by("seq").first()
    first_checkpoint = start.seq if start else 1
    checkpoints = AuditCheckpoint.objects.filter(seq__gte=first_checkpoint, seq__lte=boundary.seq)
    bundle = Bundle(
        organization=organization,
        requested={"from": None, "to": format_timestamp(boundary.at)},
        start_count=base_seq,
        start_hash=base_hash,
        end_count=boundary.event_count,
        checkpoints=[checkpoint_as_dict(c, organization) for c in checkpoints.order_by("seq")],
        keys=[signing_key_as_dict(key) for key in SigningKey.objects.order_by("valid_from")],
        generated_at=timezone.now(),
        generated_by=actor,
        extra={"retention": {"days": days, "removed_through_seq": boundary.event_count}},
    )
    folder = archive_dir() / organization
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audit_{organization}_{base_seq + 1:012d}-{boundary.event_count:012d}.zip"
    try:
        evidence_write(bundle, str(path))
    except OSError as exc:
        raise RetentionError(f"Cannot write the archive {path}: {exc.strerror}") from exc
    _check_archive(path, base, boundary)
    return path


def _check_archive(path: Path, base: tuple[int, str], boundary: AuditCheckpoint) -> None:
    """The archived events chain from ``base`` and end at the boundary checkpoint's hash."""
    with zipfile.ZipFile(path) as archive, archive.open("events.jsonl") as raw:
        events = (json.loads(line) for line in raw if line.strip())
        result = chain_verify(
            events,
            start_seq=base[0] + 1,
            start_hash=base[1],
            expected_count=boundary.event_count,
        )
    if not result.ok or result.head_hash != boundary.head_hash:
        raise RetentionError(f"The archive {path} did not read back intact: nothing removed.")


@dataclass(frozen=True)
class PruneStep:
    """Remove the events through this signed checkpoint (``event_count``) in one transaction."""

    event_count: int
    head_hash: str
    checkpoint_seq: int


def prune_steps(base_seq: int, checkpoints: list[PruneStep], batch: int) -> list[PruneStep]:
    """The checkpoints to prune through, oldest first, from ``checkpoints`` (ascending, past
    ``base_seq``, the boundary last): each step goes as far as it can without removing more than
    ``batch`` events, the last is the boundary. Checkpoints further apart than ``batch`` make a
    bigger step (a removal ends at a signed checkpoint)."""
    steps: list[PruneStep] = []
    last = base_seq
    for index, checkpoint in enumerate(checkpoints):
        following = checkpoints[index + 1] if index + 1 < len(checkpoints) else None
        if following is None or following.event_count - last > batch:
            steps.append(checkpoint)
            last = checkpoint.event_count
    return steps


def _checkpoints_through(base_seq: int, boundary: AuditCheckpoint) -> list[PruneStep]:
    """One signed checkpoint per event count past the base, through the boundary's."""
    rows = (
        AuditCheckpoint.objects.filter(
            event_count__gt=base_seq, event_count__lt=boundary.event_count
        )
        .order_by("event_count", "seq")
        .distinct("event_count")
        .values_list("event_count", "head_hash", "seq")
    )
    steps = [PruneStep(*row) for row in rows.iterator()]
    return [*steps, PruneStep(boundary.event_count, boundary.head_hash, boundary.seq)]


def retention_apply(
    *, days: int, actor: Actor | str = "system", now: datetime | None = None
) -> RetentionResult | None:
    """Archive and remove the events older than ``days``; None when there is nothing to do."""
    if days < 1:
        raise ValueError("Retention keeps at least one day.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    base = chain_base()
    boundary = _boundary(cutoff)
    if boundary is None or boundary.event_count <= base[0]:
        return None
    path = _seal(boundary, base, days, str(actor))
    with path.open("rb") as sealed:
        digest = hashlib.file_digest(sealed, "sha256").hexdigest()
    removed_total, done = 0, None
    for step in prune_steps(base[0], _checkpoints_through(base[0], boundary), PRUNE_BATCH_EVENTS):
        expected_base = done.event_count if done else base[0]
        removed = _prune(step, expected_base, days, cutoff, actor, path, digest)
        if removed is None:  # another run removed them meanwhile: its archive stands
            break
        removed_total, done = removed_total + removed, step
    if done is None:
        return None
    return RetentionResult(done.event_count, removed_total, path, digest, done.checkpoint_seq)


@transaction.atomic
def _prune(
    step: PruneStep,
    expected_base: int,
    days: int,
    cutoff: datetime,
    actor: Actor | str,
    archive: Path,
    digest: str,
) -> int | None:
    """One batch: remove the events through ``step`` and record it, in one transaction; None
    when the base is no longer where this run left it."""
    chain_head_lock()
    if chain_base()[0] != expected_base:
        return None
    with connection.cursor() as cursor:
        # Deletes the events up to the checkpoint and moves the head's base there, after
        # checking it is a signed checkpoint ahead of the base (compliance.definers).
        cursor.execute(f"SELECT {PRUNE_FUNCTION}(%s, %s)", [step.event_count, step.head_hash])
        removed = int(cursor.fetchone()[0])
    audit_record(
        event_type="compliance.retention_applied",
        actor=actor,
        resource_type="audit_trail",
        payload={
            "days": days,
            "cutoff": format_timestamp(cutoff),
            "removed_through_seq": step.event_count,
            "events_removed": removed,
            "checkpoint_seq": step.checkpoint_seq,
            "archive": archive.name,
            "archive_sha256": digest,
        },
    )
    return removed
