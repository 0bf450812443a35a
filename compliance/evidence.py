"""Evidence bundles: a zip an auditor verifies offline with ``metaqore-verify``.

Contents (``BUNDLE_FORMAT``):

- ``events.jsonl``: the events, one canonical JSON object per line, in seq order;
- ``checkpoints.json``: the signed checkpoints from the one the range starts after (or the
  genesis) to the first one covering its end;
- ``public_keys.json``: the org's public keys with their validity windows;
- ``manifest.json``: org, requested range, ``start`` (``event_count`` and ``head_hash`` the
  first event chains from), ``end_event_count`` (the signed checkpoint the events end at),
  each file's sha256 and size, signed by the platform key.

The range is widened to checkpoint boundaries on both sides, so both ends are signed: events
removed from the start, the middle or the end are all detected offline. ``evidence_prepare``
records ``compliance.evidence_exported`` and signs a checkpoint when the trail moved past the
last one; ``evidence_chunks`` then streams the zip (memory stays flat in the number of events).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.actors import Actor
from compliance.audit import audit_record, chain_head_lock, current_organization_slug
from compliance.chain import EVENT_FIELDS, canonical_json, format_timestamp, row_as_dict
from compliance.checkpoints import (
    checkpoint_as_dict,
    checkpoint_covering,
    signing_key_as_dict,
    signing_key_publish,
)
from compliance.exports import rows_in_chunks
from compliance.models import GENESIS_HASH, AuditCheckpoint, AuditEvent, SigningKey
from compliance.signing import signing_key
from metaqore_site.errors import GovernanceError

BUNDLE_FORMAT = "metaqore-evidence/1"
CONTENT_TYPE = "application/zip"
CHUNK_SIZE = 2000


class EvidenceError(GovernanceError):
    """An evidence request that cannot be served (empty range): 400."""

    status_code = 400
    default_code = "invalid_range"


@dataclass
class Bundle:
    organization: str
    requested: dict[str, str | None]
    start_count: int
    start_hash: str
    end_count: int
    checkpoints: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    generated_at: datetime
    generated_by: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def event_count(self) -> int:
        return self.end_count - self.start_count

    @property
    def filename(self) -> str:
        stamp = self.generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"evidence_{self.organization}_{stamp}.zip"


def _range(since: datetime | None, until: datetime | None) -> tuple[int, int]:
    events = AuditEvent.objects.all()
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if until is not None:
        events = events.filter(timestamp__lte=until)
    first = events.order_by("seq").values_list("seq", flat=True).first()
    last = events.order_by("-seq").values_list("seq", flat=True).first()
    if first is None or last is None:
        raise EvidenceError("No audit events in that range.", extra={"range": "empty"})
    return first, last


def _start(first_seq: int) -> tuple[AuditCheckpoint | None, int, str]:
    """The checkpoint the range starts after (None: the genesis), its event count and hash."""
    anchor = (
        AuditCheckpoint.objects.filter(event_count__lt=first_seq).order_by("-event_count").first()
    )
    if anchor is None:
        return None, 0, GENESIS_HASH
    return anchor, anchor.event_count, anchor.head_hash


def bundle_bounds(
    *, since: datetime | None = None, until: datetime | None = None
) -> tuple[AuditCheckpoint | None, AuditCheckpoint]:
    """(start checkpoint or None, end checkpoint) of the widened range; signs a checkpoint
    when the range ends past the last one. Call inside a transaction."""
    first, last = _range(since, until)
    end = checkpoint_covering(last)
    start, _count, _hash = _start(first)
    return start, end


@transaction.atomic
def evidence_prepare(
    *,
    actor: Actor | str,
    since: datetime | None = None,
    until: datetime | None = None,
    via: str = "api",
    extra: dict[str, Any] | None = None,
) -> Bundle:
    """Fix the bundle's bounds and record ``compliance.evidence_exported``. The event is
    written first, so a bundle up to now covers its own export."""
    chain_head_lock()
    requested = {
        "from": format_timestamp(since) if since else None,
        "to": format_timestamp(until) if until else None,
    }
    _range(since, until)  # refuse an empty range before anything is written
    audit_record(
        event_type="compliance.evidence_exported",
        actor=actor,
        resource_type="audit_trail",
        payload={"from": requested["from"], "to": requested["to"], "via": via},
    )
    start, end = bundle_bounds(since=since, until=until)
    organization = current_organization_slug()
    first_checkpoint = start.seq if start else 1
    checkpoints = AuditCheckpoint.objects.filter(seq__gte=first_checkpoint, seq__lte=end.seq)
    pair = signing_key()
    generated_at = timezone.now()
    signing_key_publish(pair, generated_at)  # the manifest's key is published with the others
    return Bundle(
        organization=organization,
        requested=requested,
        start_count=start.event_count if start else 0,
        start_hash=start.head_hash if start else GENESIS_HASH,
        end_count=end.event_count,
        checkpoints=[checkpoint_as_dict(c, organization) for c in checkpoints.order_by("seq")],
        keys=[signing_key_as_dict(key) for key in SigningKey.objects.order_by("valid_from")],
        generated_at=generated_at,
        generated_by=str(actor),
        extra=extra or {},
    )


class _Sink:
    """A write-only stream for ZipFile that hands out what was written since the last take."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def manifest_sign(manifest: dict[str, Any]) -> dict[str, Any]:
    pair = signing_key()
    unsigned = {**manifest, "key_id": pair.key_id}
    unsigned.pop("signature", None)
    signature = pair.sign(canonical_json(unsigned).encode("utf-8"))
    return {**unsigned, "signature": signature}


def evidence_chunks(
    bundle: Bundle,
    *,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], object] | None = None,
) -> Iterator[bytes]:
    """The zip's bytes, written as the events are read (files hashed on the way)."""
    sink = _Sink()
    files: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        digest, size = hashlib.sha256(), 0
        with archive.open("events.jsonl", "w", force_zip64=True) as events:
            rows = AuditEvent.objects.filter(
                seq__gt=bundle.start_count, seq__lte=bundle.end_count
            ).order_by("seq")
            for chunk in rows_in_chunks(rows.values_list(*EVENT_FIELDS), chunk_size):
                data = b"".join(_dumps(row_as_dict(row)) + b"\n" for row in chunk)
                digest.update(data)
                size += len(data)
                events.write(data)
                if progress is not None:
                    progress(len(chunk))
                yield sink.take()
        files["events.jsonl"] = {"sha256": digest.hexdigest(), "bytes": size}
        for name, value in (
            ("checkpoints.json", bundle.checkpoints),
            ("public_keys.json", {"keys": bundle.keys}),
        ):
            data = json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")
            archive.writestr(name, data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        manifest = manifest_sign(
            {
                "format": BUNDLE_FORMAT,
                "org": bundle.organization,
                "generated_at": format_timestamp(bundle.generated_at),
                "generated_by": bundle.generated_by,
                "requested": bundle.requested,
                "start": {"event_count": bundle.start_count, "head_hash": bundle.start_hash},
                "end_event_count": bundle.end_count,
                "event_count": bundle.event_count,
                "files": files,
                **bundle.extra,
            }
        )
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    yield sink.take()


def evidence_write(bundle: Bundle, path: str, **kwargs: Any) -> None:
    """Write the bundle to ``path`` (through ``path.partial``, renamed when complete)."""
    partial = f"{path}.partial"
    try:
        with open(partial, "wb") as out:
            for chunk in evidence_chunks(bundle, **kwargs):
                out.write(chunk)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
