"""Offline verification of a MetaQore evidence bundle: no Django, no server, no network.

A bundle is a zip with ``manifest.json`` (signed), ``events.jsonl`` (one audit event per line,
in seq order), ``checkpoints.json`` (signed checkpoints) and ``public_keys.json``. This module
re-implements the chain rules independently of the server (see the server's
``compliance/chain.py`` for the same rules in prose):

- canonical JSON: ``json.dumps(value, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`` encoded as UTF-8;
- chain version 1: ``hash = sha256(prev_hash + canonical(HASHED_FIELDS of the event))``;
- chain version 2: the personal fields (actor, agent_name, resource_id, payload) are replaced
  in the hashed body by ``personal_digest = sha256(canonical({"salt", actor, agent_name,
  resource_id, payload}))``, so a redacted event (personal fields erased, salt gone) keeps
  verifying through its stored digest (a redacted version-1 event is taken as stored: its
  links are checked, its content no longer can be);
- a checkpoint's Ed25519 signature covers ``canonical({"format": "metaqore-checkpoint/1",
  org, seq, event_count, head_hash, at, previous_checkpoint_hash, key_id})``;
- the manifest's signature covers ``canonical(manifest without "signature")``.

``verify_bundle(path)`` returns a ``BundleReport``: ``ok`` and the problems found, each naming
the first bad seq where there is one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_FORMAT = "metaqore-evidence/1"
CHECKPOINT_FORMAT = "metaqore-checkpoint/1"
GENESIS_HASH = "0" * 64
FILES = ("events.jsonl", "checkpoints.json", "public_keys.json")
HASHED_FIELDS = (
    "id",
    "seq",
    "timestamp",
    "event_type",
    "organization",
    "actor",
    "agent_name",
    "provider",
    "task_type",
    "project_id",
    "resource_type",
    "resource_id",
    "request_id",
    "payload",
)
PERSONAL_FIELDS = ("actor", "agent_name", "resource_id", "payload")
CHECKPOINT_SIGNED = (
    "org",
    "seq",
    "event_count",
    "head_hash",
    "at",
    "previous_checkpoint_hash",
    "key_id",
)


def canonical(value: Any) -> bytes:
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def personal_digest(event: Mapping[str, Any]) -> str:
    body = {"salt": event["salt"], **{name: event[name] for name in PERSONAL_FIELDS}}
    return sha256_hex(canonical(body))


def event_hash(event: Mapping[str, Any]) -> str:
    """The hash an event must carry, from its own fields (raises KeyError/TypeError if some
    are missing or malformed)."""
    version = event.get("chain_version", 1)
    if version == 1:
        body = {name: event[name] for name in HASHED_FIELDS}
    elif version == 2:
        body = {name: event[name] for name in HASHED_FIELDS if name not in PERSONAL_FIELDS}
        body["chain_version"] = 2
        body["personal_digest"] = event["personal_digest"]
    else:
        raise ValueError(f"unknown chain version {version!r}")
    return sha256_hex((str(event["prev_hash"]) + canonical(body).decode("utf-8")).encode())


def event_problem(event: Mapping[str, Any]) -> str | None:
    """Why ``event`` does not match its own hash, or None. A redacted version-2 event is
    checked through its stored digest; a redacted version-1 event is taken as stored (its
    links to both neighbours are still checked)."""
    redacted = bool(event.get("redacted") or event.get("erasure_id"))
    version = event.get("chain_version", 1)
    if redacted and version == 1:
        return None
    if version == 2 and not redacted and personal_digest(event) != event["personal_digest"]:
        return "personal fields do not match their hashed digest"
    if event_hash(event) != event.get("hash"):
        return "hash does not match the event's content"
    return None


def signature_valid(public_b64: str, signature_b64: str, message: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError, binascii.Error, TypeError):
        return False
    return True


def checkpoint_message(checkpoint: Mapping[str, Any]) -> bytes:
    return canonical(
        {"format": CHECKPOINT_FORMAT, **{name: checkpoint[name] for name in CHECKPOINT_SIGNED}}
    )


def key_id_of(public_b64: str) -> str:
    return sha256_hex(base64.b64decode(public_b64))[:16]


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass
class Problem:
    what: str
    seq: int | None = None

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}" if self.seq is not None else self.what


@dataclass
class BundleReport:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    org: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    events: int = 0
    redacted: int = 0
    checkpoints: int = 0
    key_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [problem.seq for problem in self.problems if problem.seq is not None]
        return min(seqs) if seqs else None

    def fail(self, what: str, seq: int | None = None) -> None:
        self.problems.append(Problem(what, seq))


class Keys:
    """The public keys to check signatures with, and their validity windows."""

    def __init__(self, entries: Iterable[Mapping[str, Any]], report: BundleReport):
        self.by_id: dict[str, Mapping[str, Any]] = {}
        for entry in entries:
            try:
                if key_id_of(entry["public_key"]) != entry["key_id"]:
                    report.fail(f"public key {entry['key_id']} does not match its key_id")
                    continue
            except (KeyError, TypeError, ValueError, binascii.Error):
                report.fail("public_keys.json holds a malformed key")
                continue
            self.by_id[entry["key_id"]] = entry

    def check(self, key_id: str, signature: str, message: bytes, at: str | None) -> str | None:
        """None if ``signature`` is ``key_id``'s over ``message`` within its window."""
        key = self.by_id.get(key_id)
        if key is None:
            return f"signed by unknown key {key_id}"
        if not signature_valid(key["public_key"], signature, message):
            return f"signature does not verify with key {key_id}"
        moment, start, end = _when(at), _when(key.get("valid_from")), _when(key.get("valid_until"))
        if moment and ((start and moment < start) or (end and moment > end)):
            return f"signed at {at}, outside the validity window of key {key_id}"
        return None


def _read_json(archive: zipfile.ZipFile, name: str, report: BundleReport) -> Any:
    try:
        return json.loads(archive.read(name))
    except KeyError:
        report.fail(f"{name} is missing from the bundle")
    except ValueError:
        report.fail(f"{name} is not valid JSON")
    return None


def _check_manifest(
    archive: zipfile.ZipFile, manifest: Mapping[str, Any], keys: Keys, report: BundleReport
) -> None:
    if manifest.get("format") != BUNDLE_FORMAT:
        report.fail(f"unknown bundle format {manifest.get('format')!r}")
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    problem = keys.check(
        str(manifest.get("key_id")),
        str(manifest.get("signature")),
        canonical(unsigned),
        manifest.get("generated_at"),
    )
    if problem:
        report.fail(f"manifest: {problem}")
    files = manifest.get("files") or {}
    for name in FILES:
        expected = files.get(name, {}).get("sha256")
        try:
            actual = sha256_hex(archive.read(name))
        except KeyError:
            continue  # reported by the reader of that file
        if actual != expected:
            report.fail(f"{name} does not match the manifest's sha256 (changed since signed)")


def _checkpoints(
    entries: list[Mapping[str, Any]], org: str, keys: Keys, report: BundleReport
) -> dict[int, Mapping[str, Any]]:
    """Check every checkpoint; the valid ones by the event_count they sign."""
    by_count: dict[int, Mapping[str, Any]] = {}
    previous: Mapping[str, Any] | None = None
    for checkpoint in entries:
        try:
            message = checkpoint_message(checkpoint)
            label = f"checkpoint #{checkpoint['seq']} (event {checkpoint['event_count']})"
        except (KeyError, TypeError, ValueError):
            report.fail("checkpoints.json holds a malformed checkpoint")
            continue
        signature = str(checkpoint.get("signature"))
        problem = keys.check(
            str(checkpoint.get("key_id")), signature, message, checkpoint.get("at")
        )
        if problem:
            report.fail(f"{label}: {problem}", checkpoint["event_count"])
            continue
        if checkpoint["org"] != org:
            report.fail(f"{label} belongs to org {checkpoint['org']!r}, not {org!r}")
            continue
        if sha256_hex(message) != checkpoint.get("checkpoint_hash"):
            report.fail(f"{label}: checkpoint_hash does not match what is signed")
        if previous is not None and (
            checkpoint["seq"] != previous["seq"] + 1
            or checkpoint["previous_checkpoint_hash"] != previous.get("checkpoint_hash")
        ):
            report.fail(f"{label} does not follow checkpoint #{previous['seq']}")
        previous = checkpoint
        by_count[checkpoint["event_count"]] = checkpoint
        report.checkpoints += 1
    return by_count


def _lines(archive: zipfile.ZipFile, report: BundleReport) -> Iterator[bytes]:
    try:
        with archive.open("events.jsonl") as stream:
            yield from stream
    except KeyError:
        report.fail("events.jsonl is missing from the bundle")


def _check_events(
    archive: zipfile.ZipFile,
    manifest: Mapping[str, Any],
    by_count: Mapping[int, Mapping[str, Any]],
    report: BundleReport,
) -> None:
    start = manifest.get("start") or {}
    start_count = int(start.get("event_count", 0))
    prev_hash = start.get("head_hash", GENESIS_HASH)
    if start_count:
        anchor = by_count.get(start_count)
        if anchor is None or anchor["head_hash"] != prev_hash:
            report.fail(f"the bundle starts after seq {start_count}: no valid checkpoint there")
    org = report.org
    expected = start_count + 1
    chain_version = 1
    for number, line in enumerate(_lines(archive, report), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            seq = int(event["seq"])
        except (ValueError, KeyError, TypeError):
            report.fail(f"line {number} is not a readable audit event", expected)
            return
        if seq != expected:
            if seq > expected:
                report.fail(f"missing (the next event in the file is seq {seq})", expected)
            else:
                report.fail(f"out of order: found seq {seq} here", expected)
            return
        if event.get("prev_hash") != prev_hash:
            report.fail("prev_hash does not link to the previous event", seq)
            return
        try:
            version = int(event.get("chain_version", 1))
            problem = event_problem(event)
        except (KeyError, TypeError, ValueError):
            report.fail("malformed event", seq)
            return
        if version < chain_version:
            report.fail("the chain version went back", seq)
            return
        if problem:
            report.fail(problem, seq)
            return
        chain_version, recomputed = version, event["hash"]
        if event.get("organization") != org:
            report.fail(f"event of org {event.get('organization')!r} in a bundle of {org!r}", seq)
            return
        checkpoint = by_count.get(seq)
        if checkpoint is not None and checkpoint["head_hash"] != recomputed:
            report.fail(f"checkpoint #{checkpoint['seq']} signs a different hash here", seq)
            return
        report.redacted += bool(event.get("redacted"))
        report.events += 1
        prev_hash = recomputed
        expected += 1
    last = expected - 1
    report.first_seq, report.last_seq = (start_count + 1, last) if report.events else (None, None)
    end = int(manifest.get("end_event_count", -1))
    if last != end or end not in by_count:
        signed = max((count for count in by_count if count <= end), default=None)
        report.fail(
            f"truncated: the events end at seq {last} but the bundle's last signed checkpoint "
            f"covers seq {end if end in by_count else signed}",
            last + 1,
        )


def verify_bundle(path: str, *, trusted_keys: Iterable[Mapping[str, Any]] = ()) -> BundleReport:
    """Verify the bundle at ``path``. ``trusted_keys`` (key_id, public_key): when given,
    every signature must come from one of them, whatever the bundle's own key list says."""
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.fail(f"cannot read the bundle as a zip file: {exc}")
        return report
    with archive:
        manifest = _read_json(archive, "manifest.json", report)
        published = _read_json(archive, "public_keys.json", report)
        checkpoints = _read_json(archive, "checkpoints.json", report)
        if not isinstance(manifest, dict):
            return report
        report.org = manifest.get("org")
        entries = (published or {}).get("keys", []) if isinstance(published, dict) else []
        trusted = list(trusted_keys)
        if trusted:
            pinned = {key["key_id"]: key["public_key"] for key in trusted}
            entries = [
                key for key in entries if pinned.get(key.get("key_id")) == key.get("public_key")
            ]
        else:
            report.warnings.append(
                "keys taken from the bundle itself: compare their key ids with "
                "GET /api/v1/governance/compliance/public-keys, or pin them with --key"
            )
        keys = Keys(entries, report)
        report.key_ids = sorted(keys.by_id)
        _check_manifest(archive, manifest, keys, report)
        listed = checkpoints if isinstance(checkpoints, list) else []
        valid = _checkpoints(listed, str(report.org), keys, report)
        _check_events(archive, manifest, valid, report)
    return report
