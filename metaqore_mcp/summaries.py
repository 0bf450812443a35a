"""One paragraph per tool result, written for an LLM: what happened and what to do next."""

from __future__ import annotations

import json
from typing import Any

MAX_LISTED = 10


def _conflict_lines(conflicts: list[dict[str, Any]], remediation: list[dict[str, Any]]) -> str:
    hints = {item.get("conflict_id"): item.get("hint", "") for item in remediation}
    parts = []
    for conflict in conflicts[:MAX_LISTED]:
        hint = hints.get(conflict.get("id")) or conflict.get("hint") or ""
        text = (
            f"{conflict.get('id')} ({str(conflict.get('severity', '')).upper()} "
            f"{conflict.get('conflict_type')}: {conflict.get('description', '')})"
        )
        parts.append(f"{text}; remediation: {hint}" if hint else text)
    more = len(conflicts) - MAX_LISTED
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def declaration(body: dict[str, Any]) -> str:
    governance = body.get("governance") or {}
    outcome = governance.get("outcome", "accepted")
    conflicts = governance.get("conflicts") or []
    what = (
        f"Artifact {body.get('id')} ({body.get('artifact_type')} v{body.get('version')}) "
        f"in project {body.get('project_id')}"
    )
    if outcome == "blocked":
        return (
            f"BLOCKED: {what} was stored but is blocked by {len(conflicts)} unresolved "
            f"conflict(s): {_conflict_lines(conflicts, governance.get('remediation') or [])}. "
            "Do not apply this work yet. Follow the remediation (e.g. declare the expected "
            "version, or wait for the artifact you depend on), or ask a compliance officer to "
            "resolve the conflict; once it is resolved, transition the artifact to active."
        )
    text = f"{what}: {outcome} (governance mode {governance.get('mode', '?')}); state "
    text += f"{body.get('state')}."
    if conflicts:
        text += f" Warnings: {_conflict_lines(conflicts, governance.get('remediation') or [])}."
    return text + " Transition it to active when the work is ready."


def routing(body: dict[str, Any], vetoed: bool) -> str:
    if vetoed:
        veto = body.get("veto") or {}
        return (
            f"VETOED: routing to this provider is not allowed ({veto.get('reason', '')}; policy "
            f"{veto.get('policy_violated', body.get('policy'))}). Sensitivity "
            f"{body.get('sensitivity')}; allowed providers: "
            f"{', '.join(body.get('allowed_providers') or []) or 'none'}. Use "
            f"{body.get('recommended_provider') or 'an allowed provider'} instead."
        )
    return (
        f"Sensitivity {body.get('sensitivity')}; allowed providers: "
        f"{', '.join(body.get('allowed_providers') or []) or 'none'}; recommended: "
        f"{body.get('recommended_provider') or 'none'} (policy {body.get('policy')}, decision "
        f"{body.get('decision_id')})."
    )


def blocking_report(body: dict[str, Any]) -> str:
    blocked = body.get("blocked_artifacts") or []
    total = body.get("conflicts_total", 0)
    if not blocked and not total:
        return f"Nothing blocks project {body.get('project_id')}."
    return (
        f"Project {body.get('project_id')} has {len(blocked)} blocked artifact(s) "
        f"({', '.join(blocked[:MAX_LISTED])}) and {total} unresolved conflict(s): "
        f"{_conflict_lines(body.get('conflicts') or [], body.get('remediation') or [])}."
    )


def page(body: dict[str, Any], noun: str) -> str:
    results = body.get("results") or []
    ids = ", ".join(str(item.get("id")) for item in results[:MAX_LISTED])
    text = f"{body.get('count', len(results))} {noun} in all; this page: {ids or 'none'}."
    return text + (" More pages follow (pass page=…)." if body.get("next") else "")


def error(status: int, body: Any) -> str:
    detail = body.get("detail") if isinstance(body, dict) else None
    if status == 400 and isinstance(body, dict) and not detail:
        fields = "; ".join(f"{name}: {value}" for name, value in body.items())
        return f"Invalid arguments (HTTP 400): {fields}. Fix them and call the tool again."
    hints = {
        401: "The API key is missing, invalid or of another organization.",
        403: "This key may not do this.",
        404: "No such object in this organization.",
        409: "Governance refused the change.",
        429: "Rate limited: wait before calling again.",
    }
    return f"Failed (HTTP {status}): {detail or json.dumps(body)[:500]}. {hints.get(status, '')}"


def generic(body: Any, what: str) -> str:
    text = json.dumps(body, sort_keys=True, default=str)
    return f"{what}: {text[:600]}{'…' if len(text) > 600 else ''}"
