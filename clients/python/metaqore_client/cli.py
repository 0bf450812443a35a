"""``metaqore``: declare work and gate commits and CI on MetaQore's verdict.

Exit codes (every command): 0 accepted / nothing blocks, 1 governance blocks (each conflict and
its remediation is printed), 2 usage, configuration, connection or API errors. ``--json``
prints one JSON object on stdout instead of text. Configuration: see ``metaqore_client.config``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from metaqore_client.client import MetaQore, __version__
from metaqore_client.config import Config, ConfigError, load_config
from metaqore_client.errors import MetaQoreError
from metaqore_client.gitchanges import GitError, changed_modules, head_commit
from metaqore_client.models import Declaration

OK, BLOCKED, ERROR = 0, 1, 2


class UsageError(Exception):
    pass


class Output:
    def __init__(self, as_json: bool):
        self.as_json = as_json

    def say(self, text: str = "") -> None:
        if not self.as_json:
            print(text)

    def result(self, data: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _print_conflicts(out: Output, conflicts: list[dict[str, Any]], remediation: list[dict]) -> None:
    hints = {item.get("conflict_id"): item.get("hint", "") for item in remediation}
    for conflict in conflicts:
        out.say(
            f"  {conflict['id']} {conflict['severity'].upper()} {conflict['conflict_type']}: "
            f"{conflict.get('description', '')}"
        )
        hint = hints.get(conflict["id"]) or conflict.get("hint")
        if hint:
            out.say(f"    remediation: {hint}")


def _declaration_summary(declaration: Declaration) -> dict[str, Any]:
    return {
        "outcome": declaration.outcome,
        "artifact_id": declaration.artifact_id,
        "artifact_type": declaration.artifact.get("artifact_type"),
        "version": declaration.artifact.get("version"),
        "conflicts": [conflict.as_json() for conflict in declaration.conflicts],
        "remediation": declaration.remediation,
    }


def _report_declaration(out: Output, declaration: Declaration, label: str) -> None:
    artifact = declaration.artifact
    out.say(
        f"{declaration.outcome}: {label} → {declaration.artifact_id} "
        f"({artifact.get('artifact_type')} v{artifact.get('version')})"
    )
    _print_conflicts(
        out, [conflict.as_json() for conflict in declaration.conflicts], declaration.remediation
    )


def _project(args: argparse.Namespace, config: Config) -> str:
    project = args.project or config.project
    if not project:
        raise UsageError("--project is required (or METAQORE_PROJECT, or project = in the config)")
    return project


def _key_value(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option} takes NAME=SPEC, got {item!r}")
        pairs[name.strip()] = spec.strip()
    return pairs


def cmd_declare(mq: MetaQore, config: Config, args: argparse.Namespace, out: Output) -> int:
    try:
        data = json.loads(args.data) if args.data else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"--data is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("--data must be a JSON object")
    files = {}
    for name in args.file:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"--file {name}: no such file")
        files[path.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    if files:
        data.setdefault("files", files)
    fields: dict[str, Any] = {"file_paths": list(files)}
    if args.requires:
        fields["requirements"] = _key_value(args.requires, "--requires")
    if args.version is not None:
        fields["version"] = args.version
    if args.depends_on:
        fields["depends_on"] = args.depends_on
    declaration = mq.artifacts.declare(_project(args, config), args.type, data, **fields)
    _report_declaration(out, declaration, args.type)
    out.result(_declaration_summary(declaration))
    return BLOCKED if declaration.blocked else OK


def cmd_git_declare(mq: MetaQore, config: Config, args: argparse.Namespace, out: Output) -> int:
    project = _project(args, config)
    cwd = Path(args.repo)
    described, modules = changed_modules(cwd=cwd, since=args.since, depth=args.depth)
    head = head_commit(cwd)
    results = []
    for change in modules:
        data = {"module": change.module, "files": change.files, "range": described, "head": head}
        declaration = mq.artifacts.declare(
            project, change.artifact_type, data, file_paths=list(change.files)
        )
        _report_declaration(out, declaration, f"{change.module} ({len(change.files)} file(s))")
        results.append({"module": change.module, **_declaration_summary(declaration)})
    if not modules:
        out.say(f"nothing to declare ({described})")
    blocked = any(item["outcome"] == "blocked" for item in results)
    out.result({"range": described, "head": head, "declarations": results, "blocked": blocked})
    return BLOCKED if blocked else OK


def cmd_gate(mq: MetaQore, config: Config, args: argparse.Namespace, out: Output) -> int:
    project = _project(args, config)
    report = mq.governance.blocking_report(project, limit=args.limit)
    blocked = bool(report["blocked_artifacts"]) or report["conflicts_total"] > 0
    if blocked:
        out.say(
            f"BLOCKED: {project} has {len(report['blocked_artifacts'])} blocked artifact(s) and "
            f"{report['conflicts_total']} unresolved conflict(s)"
        )
        _print_conflicts(out, report["conflicts"], report.get("remediation", []))
    else:
        out.say(f"ok: nothing blocks {project}")
    out.result({"project_id": project, "blocked": blocked, "report": report})
    return BLOCKED if blocked else OK


def cmd_status(mq: MetaQore, config: Config, args: argparse.Namespace, out: Output) -> int:
    health = mq.health()
    status: dict[str, Any] = {"url": config.url, "org": config.org, "health": health}
    out.say(f"server: {config.url} ({health.get('status')}, version {health.get('version')})")
    out.say(f"organization: {health.get('organization') or config.org or '-'}")
    policy = mq.governance.policy()
    status["policy"] = policy
    out.say(f"governance mode: {policy.get('mode')} (revision {policy.get('revision')})")
    project = args.project or config.project
    if project:
        report = mq.governance.blocking_report(project, limit=10)
        status["project"] = report
        out.say(
            f"project {project}: {len(report['blocked_artifacts'])} blocked artifact(s), "
            f"{report['conflicts_total']} unresolved conflict(s)"
        )
    out.result(status)
    return OK if health.get("status") == "ok" else ERROR


Command = Callable[[MetaQore, Config, argparse.Namespace, Output], int]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    common.add_argument("--url", help="server URL (METAQORE_URL)")
    common.add_argument("--api-key", help="agent key (METAQORE_API_KEY)")
    common.add_argument("--org", help="organization slug for the bare host (METAQORE_ORG)")
    parser = argparse.ArgumentParser(
        prog="metaqore",
        description="Declare work to MetaQore and gate commits and CI on its verdict. "
        "Exit codes: 0 ok, 1 blocked, 2 usage/connection/API error.",
    )
    parser.add_argument("--version", action="version", version=f"metaqore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    declare = sub.add_parser("declare", parents=[common], help="declare one artifact")
    declare.add_argument("--project", help="project id (METAQORE_PROJECT)")
    declare.add_argument("--type", required=True, help="artifact type, e.g. code, plan")
    declare.add_argument("--file", action="append", default=[], help="a file it touches")
    declare.add_argument("--requires", action="append", default=[], help="PKG=SPEC")
    declare.add_argument("--data", help="the artifact's content as a JSON object")
    declare.add_argument("--version", type=int, dest="version", help="expected version")
    declare.add_argument("--depends-on", action="append", default=[], help="an artifact id")
    declare.set_defaults(handler=cmd_declare)

    git = sub.add_parser(
        "git-declare",
        parents=[common],
        help="declare the changed files, one artifact per top-level module",
    )
    git.add_argument("--project", help="project id (METAQORE_PROJECT)")
    scope = git.add_mutually_exclusive_group()
    scope.add_argument("--staged", action="store_true", help="the index (default; pre-commit)")
    scope.add_argument("--since", metavar="REF", help="REF...HEAD (CI: the branch's changes)")
    git.add_argument("--depth", type=int, default=1, help="path components naming a module")
    git.add_argument("--repo", default=".", help="the repository (default: .)")
    git.set_defaults(handler=cmd_git_declare)

    gate = sub.add_parser("gate", parents=[common], help="exit 1 when anything blocks")
    gate.add_argument("--project", help="project id (METAQORE_PROJECT)")
    gate.add_argument("--limit", type=int, default=50, help="conflicts to list (max 500)")
    gate.set_defaults(handler=cmd_gate)

    status = sub.add_parser("status", parents=[common], help="server, org, policy, project")
    status.add_argument("--project", help="also summarize this project")
    status.set_defaults(handler=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad usage
    out = Output(args.json)
    handler: Command = args.handler
    try:
        config = load_config(url=args.url, api_key=args.api_key, org=args.org)
        with MetaQore(config.url, config.api_key, config.org, max_retries=2) as mq:
            return handler(mq, config, args, out)
    except (UsageError, ConfigError, GitError) as exc:
        return _fail(out, "usage", str(exc))
    except MetaQoreError as exc:
        return _fail(out, "api", str(exc), status=exc.status, body=exc.body)
    except httpx.HTTPError as exc:
        return _fail(out, "connection", f"{type(exc).__name__}: {exc}")


def _fail(out: Output, kind: str, message: str, **extra: Any) -> int:
    print(f"metaqore: {message}", file=sys.stderr)
    out.result({"error": kind, "message": message, **extra})
    return ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
