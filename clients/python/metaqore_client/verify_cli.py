"""``metaqore-verify BUNDLE.zip``: check a MetaQore evidence bundle offline.

Exit status: 0 the bundle verifies, 1 it does not (each problem printed, the first bad seq
named), 2 the command was used wrongly (unreadable key file).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from metaqore_client.evidence import key_id_of, verify_bundle


def _trusted(values: Sequence[str]) -> list[dict[str, str]]:
    """``--key`` values: a base64 public key, or a file (the JSON of GET …/public-keys, or
    one base64 key per line)."""
    keys: list[dict[str, str]] = []
    for value in values:
        try:
            with open(value, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            text = value
        text = text.strip()
        if text.startswith("{"):
            keys.extend(
                {"key_id": key["key_id"], "public_key": key["public_key"]}
                for key in json.loads(text)["keys"]
            )
            continue
        for line in text.splitlines():
            if line.strip():
                keys.append({"key_id": key_id_of(line.strip()), "public_key": line.strip()})
    return keys


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="metaqore-verify",
        description="Verify a MetaQore evidence bundle offline: the hash chain, every "
        "checkpoint signature, the signed manifest, and that nothing was cut off the end.",
    )
    parser.add_argument("bundle", help="the evidence bundle (.zip)")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY",
        help="trust only this public key (base64, or a file: one key per line or the JSON "
        "of GET /api/v1/governance/compliance/public-keys); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    args = parser.parse_args(argv)
    try:
        trusted = _trusted(args.key)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"metaqore-verify: unreadable --key: {exc}", file=sys.stderr)
        return 2
    report = verify_bundle(args.bundle, trusted_keys=trusted)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "org": report.org,
                    "first_seq": report.first_seq,
                    "last_seq": report.last_seq,
                    "events": report.events,
                    "redacted": report.redacted,
                    "checkpoints": report.checkpoints,
                    "key_ids": report.key_ids,
                    "first_bad_seq": report.first_bad_seq,
                    "problems": [str(problem) for problem in report.problems],
                    "warnings": report.warnings,
                },
                indent=2,
            )
        )
        return 0 if report.ok else 1
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.ok:
        print(
            f"VERIFIED: {args.bundle}: org {report.org!r}, {report.events} events "
            f"(seq {report.first_seq}..{report.last_seq}, {report.redacted} redacted), "
            f"{report.checkpoints} signed checkpoints, keys {', '.join(report.key_ids)}"
        )
        return 0
    where = f" (first bad seq {report.first_bad_seq})" if report.first_bad_seq else ""
    print(f"FAILED: {args.bundle}{where}")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
