"""The README's walkthrough is the truth: its marked ``bash`` blocks run, as written and in
order, in one bash session against a live server on a fresh database and a fresh data dir set
up as ``make run`` does (``migrate_schemas``, then ``demo_setup``). Each ``curl`` must answer
the status the README documents under it (``# 201 →``, ``# →`` for 200, or the ``HTTP/1.1 409``
block that follows), 2xx when none is documented, and the scalar values the README shows
(``"state": "active"``, ``"resolved_by": "user:olivia"``) must be in the real response."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.processes import ROOT, manage, running_server, subprocess_env

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
MARKER = re.compile(
    r"<!-- walkthrough[^>]*-->\n```bash\n(.*?)\n```(\n\n```\n(HTTP/1\.1 (\d{3})[^\n]*))?", re.S
)
STATUS_COMMENT = re.compile(r"^#\s*(?:(\d{3})\s*)?→\s*(.*)$")
CONTINUED_COMMENT = re.compile(r"^#\s{2,}(.*)$")
# "key": value pairs of a documented response; values that differ per run (ids, tokens,
# elisions) are skipped.
PAIR = re.compile(r'"([a-z_]+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)')
VARIES = re.compile(r"^[a-z]{2,5}_[0-9a-f]{12,}$|^[a-z]{2,5}_…|^eyJ|…|\.\.\.")

# Every curl of the walkthrough records its status and body, in order, then prints the body.
CURL_RECORDER = r"""
curl() {
  local n out code
  n=$(( $(cat "$WALK_LOG/count") + 1 )); echo "$n" > "$WALK_LOG/count"
  out="$WALK_LOG/$n.body"
  code=$(command curl -o "$out" -w '%{http_code}' "$@") || { echo "curl failed: $*" >&2; return 1; }
  echo "$code" > "$WALK_LOG/$n.code"
  cat "$out"
}
"""


@dataclass
class Call:
    command: str
    status: int | None = None  # documented status, None: any 2xx
    shown: list[str] = field(default_factory=list)  # the documented response's lines


def walkthrough() -> tuple[str, list[Call]]:
    """The marked blocks (one script) and the curl calls they make, with what the README
    documents for each."""
    text = README.read_text()
    blocks = list(MARKER.finditer(text))
    assert len(blocks) >= 3, "the README's walkthrough markers are gone"
    calls: list[Call] = []
    for block in blocks:
        current: Call | None = None
        lines = block.group(1).splitlines()
        for line in lines:
            stripped = line.strip()
            comment = STATUS_COMMENT.match(stripped)
            if re.search(r"(^|\$\(|\|\s*)curl\s", stripped) and not stripped.startswith("#"):
                current = Call(command=stripped)
                calls.append(current)
            elif comment and current is not None and current.status is None and not current.shown:
                current.status = int(comment.group(1) or 200)
                current.shown.append(comment.group(2))
            elif CONTINUED_COMMENT.match(stripped) and current is not None and current.shown:
                current.shown.append(CONTINUED_COMMENT.match(stripped).group(1))
            elif (
                current is not None
                and stripped
                and not stripped.startswith("#")
                and not current.shown
                and line.startswith((" ", "\t"))
            ):
                current.command += " " + stripped  # a continuation line of the command
        if block.group(4):  # the HTTP/1.1 block after it documents its last call
            assert calls and calls[-1].status is None
            calls[-1].status = int(block.group(4))
    script = "\n".join(block.group(1) for block in blocks)
    return script, calls


def values(document: Any) -> set[tuple[str, str]]:
    """Every (key, JSON-encoded scalar) pair anywhere in a response."""
    found: set[tuple[str, str]] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, dict | list):
                found |= values(value)
            else:
                found.add((key, json.dumps(value)))
    elif isinstance(document, list):
        for item in document:
            found |= values(item)
    return found


def documented_pairs(call: Call) -> set[tuple[str, str]]:
    pairs = set()
    for key, raw in PAIR.findall(" ".join(call.shown)):
        if VARIES.search(raw.strip('"')):
            continue
        pairs.add((key, json.dumps(json.loads(raw))))
    return pairs


def test_the_readme_walkthrough_runs_as_written(fresh_database, tmp_path):
    script, calls = walkthrough()
    home = tmp_path / "checkout"  # `source .data/demo.env` is relative to the checkout
    data_dir = home / ".data"
    log = tmp_path / "walk"
    log.mkdir()
    (log / "count").write_text("0")
    env = subprocess_env(
        DATABASE_URL=fresh_database,
        METAQORE_DATA_DIR=str(data_dir),
        METAQORE_ENABLE_RATE_LIMIT="false",
        DEBUG="false",
    )
    migrated = manage("migrate_schemas", "--verbosity", "0", env=env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    with running_server(env, log=tmp_path / "server.log") as base:
        port = base.rsplit(":", 1)[1]
        demo = manage("demo_setup", "--port", port, env=env)
        assert demo.returncode == 0, demo.stderr
        assert "user 'olivia'" in demo.stdout and "agent 'tester'" in demo.stdout
        assert (data_dir / "demo.env").stat().st_mode & 0o777 == 0o600
        home.mkdir(exist_ok=True)
        ran = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{CURL_RECORDER}\n{script}"],
            cwd=home,
            env={**env, "WALK_LOG": str(log)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        server_log = (tmp_path / "server.log").read_text()[-3000:]
    made = int((log / "count").read_text())
    assert ran.returncode == 0, f"{ran.stderr[-3000:]}\n--- server\n{server_log}"
    assert made == len(calls), (made, [call.command for call in calls])
    for number, call in enumerate(calls, start=1):
        status = int((log / f"{number}.code").read_text())
        body = (log / f"{number}.body").read_text()
        if call.status is None:
            assert 200 <= status < 300, (call.command, status, body[:500])
            continue
        assert status == call.status, (call.command, status, body[:500])
        missing = documented_pairs(call) - values(json.loads(body))
        assert not missing, (call.command, missing, body[:800])


def test_the_walkthrough_parser_sees_every_documented_status():
    """The parser itself: the statuses the README shows, in order (a parser that found none
    would make the test above pass vacuously)."""
    _script, calls = walkthrough()
    documented = [call.status for call in calls if call.status is not None]
    assert 201 in documented and 403 in documented and 409 in documented
    assert len(documented) >= 8
    assert any(("resolved_by", '"user:olivia"') in documented_pairs(call) for call in calls)
