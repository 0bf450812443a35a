"""Evidence bundles and the offline verifier (metaqore-verify): a bundle verifies without the
server; a flipped byte, a deleted event, a cut tail or a forged signature each fail, named."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from access.actors import Actor
from compliance.audit import audit_record
from compliance.checkpoints import checkpoint_create, checkpoint_if_moved
from compliance.evidence import evidence_prepare, evidence_write
from compliance.models import AuditEvent
from compliance.signing import KEY_ENV
from metaqore_client.evidence import verify_bundle
from metaqore_client.verify_cli import main as verify_main
from tests.compliance.conftest import events_after, last_seq

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = "/api/v1/governance/compliance/evidence"
CODER = Actor("agent", "coder")


def seed(count: int) -> None:
    for index in range(count):
        audit_record(event_type="task.updated", actor=CODER, payload={"i": index, "note": "é"})


@pytest.fixture
def bundle(org_a, tmp_path) -> Path:
    seed(4)
    checkpoint_if_moved()
    seed(4)
    path = tmp_path / "bundle.zip"
    evidence_write(evidence_prepare(actor=CODER), str(path))
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path: Path, out: Path, **changes: bytes) -> Path:
    files = {**members(path), **changes}
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out


def event_lines(path: Path) -> list[bytes]:
    return members(path)["events.jsonl"].splitlines(keepends=True)


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    sys_stdout = sys.stdout
    sys.stdout = out
    try:
        code = verify_main(list(args))
    finally:
        sys.stdout = sys_stdout
    return code, out.getvalue()


def test_a_bundle_verifies_offline_without_django(bundle):
    env = {"PYTHONPATH": str(ROOT / "clients/python"), "PATH": "/usr/bin:/bin"}
    script = (
        "import sys; from metaqore_client.verify_cli import main; code = main(sys.argv[1:]); "
        "assert 'django' not in sys.modules; sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(bundle)],
        env=env,
        cwd=bundle.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"VERIFIED: {bundle}: org 'alpha'")
    assert "keys taken from the bundle itself" in done.stderr
    report = verify_bundle(str(bundle))
    assert report.ok and report.first_seq == 1 and report.last_seq == last_seq()
    assert report.checkpoints == 2  # the periodic one and the one the export signed


def test_flipping_one_byte_of_an_event_fails_naming_its_seq(bundle, tmp_path):
    lines = event_lines(bundle)
    index = max(i for i, line in enumerate(lines) if b'"i":2' in line)
    target = json.loads(lines[index])
    lines[index] = lines[index].replace(b'"i":2', b'"i":3')  # one byte
    tampered = rewrite(bundle, tmp_path / "flipped.zip", **{"events.jsonl": b"".join(lines)})
    code, out = cli(str(tampered))
    assert code == 1
    assert f"FAILED: {tampered} (first bad seq {target['seq']})" in out
    assert f"seq {target['seq']}: personal fields do not match their hashed digest" in out
    assert "events.jsonl does not match the manifest's sha256" in out


def test_deleting_an_event_in_the_middle_fails(bundle, tmp_path):
    lines = event_lines(bundle)
    missing = json.loads(lines[3])["seq"]
    tampered = rewrite(bundle, tmp_path / "deleted.zip", **{"events.jsonl": b"".join(
        lines[:3] + lines[4:])})  # fmt: skip
    report = verify_bundle(str(tampered))
    assert not report.ok and report.first_bad_seq == missing
    assert f"seq {missing}: missing (the next event in the file is seq {missing + 1})" in [
        str(problem) for problem in report.problems
    ]


def test_dropping_the_last_events_is_detected(bundle, tmp_path):
    lines = event_lines(bundle)
    kept = b"".join(lines[:-2])
    tampered = rewrite(bundle, tmp_path / "cut.zip", **{"events.jsonl": kept})
    report = verify_bundle(str(tampered))
    last = json.loads(lines[-1])["seq"]
    assert not report.ok and report.first_bad_seq == last - 1
    assert any(f"truncated: the events end at seq {last - 2}" in str(p) for p in report.problems)


def test_dropping_the_tail_and_rewriting_the_manifest_breaks_its_signature(bundle, tmp_path):
    lines = event_lines(bundle)
    manifest = json.loads(members(bundle)["manifest.json"])
    manifest["end_event_count"] -= 2
    tampered = rewrite(
        bundle,
        tmp_path / "forged-manifest.zip",
        **{"events.jsonl": b"".join(lines[:-2]), "manifest.json": json.dumps(manifest).encode()},
    )
    report = verify_bundle(str(tampered))
    assert not report.ok
    assert any(str(p).startswith("manifest: signature does not verify") for p in report.problems)


def test_a_forged_checkpoint_signature_fails(bundle, tmp_path):
    checkpoints = json.loads(members(bundle)["checkpoints.json"])
    forger = Ed25519PrivateKey.generate()
    first = checkpoints[0]
    first["signature"] = base64.b64encode(forger.sign(b"anything")).decode()
    tampered = rewrite(
        bundle, tmp_path / "forged.zip", **{"checkpoints.json": json.dumps(checkpoints).encode()}
    )
    code, out = cli(str(tampered))
    assert code == 1
    assert (
        f"seq {first['event_count']}: checkpoint #1 (event {first['event_count']}): "
        f"signature does not verify with key {first['key_id']}"
    ) in out


def test_a_pinned_key_that_did_not_sign_fails(bundle, tmp_path):
    other = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    code, out = cli(str(bundle), "--key", other)
    assert code == 1 and "signed by unknown key" in out
    keys = json.loads(members(bundle)["public_keys.json"])
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps(keys))
    assert cli(str(bundle), "--key", str(keyfile))[0] == 0


def test_a_range_starts_after_a_signed_checkpoint(org_a, tmp_path):
    seed(3)
    first = checkpoint_if_moved()
    seed(3)
    since = AuditEvent.objects.get(seq=first.event_count + 2).timestamp
    path = tmp_path / "range.zip"
    evidence_write(evidence_prepare(actor=CODER, since=since), str(path))
    report = verify_bundle(str(path))
    assert report.ok, report.problems
    assert report.first_seq == first.event_count + 1  # widened back to the checkpoint
    # the first event removed: the start no longer chains from the signed checkpoint
    lines = event_lines(path)
    tampered = rewrite(path, tmp_path / "head-cut.zip", **{"events.jsonl": b"".join(lines[1:])})
    assert verify_bundle(str(tampered)).first_bad_seq == first.event_count + 1


def test_checkpoints_of_two_keys_verify_after_a_rotation(org_a, tmp_path, monkeypatch):
    def new_key() -> str:
        return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()

    monkeypatch.setenv(KEY_ENV, new_key())
    seed(2)
    checkpoint_create(actor="system")
    monkeypatch.setenv(KEY_ENV, new_key())
    seed(2)
    path = tmp_path / "rotated.zip"
    evidence_write(evidence_prepare(actor=CODER), str(path))
    report = verify_bundle(str(path))
    assert report.ok, report.problems
    assert len(report.key_ids) == 2


def test_auditor_downloads_a_bundle(org_a, auditor, tmp_path):
    seed(3)
    response = auditor.get(EVIDENCE)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert 'filename="evidence_alpha_' in response["Content-Disposition"]
    path = tmp_path / "api.zip"
    path.write_bytes(b"".join(response.streaming_content))
    report = verify_bundle(str(path))
    assert report.ok, report.problems
    assert int(response["X-MetaQore-Evidence-Events"]) == report.events
    exported = AuditEvent.objects.filter(event_type="compliance.evidence_exported").get()
    assert exported.actor == "user:audrey" and exported.payload["via"] == "api"


def test_bad_ranges_are_400(org_a, auditor):
    seed(1)
    assert auditor.get(EVIDENCE, {"from": "yesterday"}).json()["from"]
    late = auditor.get(EVIDENCE, {"from": "2030-01-02", "to": "2030-01-01"})
    assert late.status_code == 400 and late.json()["to"]
    empty = auditor.get(EVIDENCE, {"from": "2099-01-01"})
    assert empty.status_code == 400 and empty.json()["code"] == "invalid_range"


def test_evidence_command(org_a, tmp_path):
    seed(2)
    before = last_seq()
    path = tmp_path / "cli.zip"
    out = io.StringIO()
    call_command("audit_evidence", "--org", "alpha", "--output", str(path), stdout=out)
    assert f"Wrote {path}: {before + 1} events of 'alpha'" in out.getvalue()
    assert verify_bundle(str(path)).ok
    [event] = events_after(before)
    assert event.event_type == "compliance.evidence_exported" and event.payload["via"] == "cli"
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("audit_evidence", "--org", "alpha", "--output", str(path), "--from", "x")


def test_the_verdict_as_json(bundle, tmp_path):
    code, out = cli(str(bundle), "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["ok"] is True and verdict["org"] == "alpha"
    assert verdict["first_seq"] == 1 and verdict["problems"] == []
    broken = rewrite(bundle, tmp_path / "bad.zip", **{"manifest.json": b"{}"})
    code, out = cli(str(broken), "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["ok"] is False
    assert "unknown bundle format None" in verdict["problems"]
