"""What every adapter does with a declaration: the summary a model or a graph branches on."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from metaqore_client.models import Declaration


def remediation_message(declaration: Declaration) -> str:
    """One paragraph for a model: what blocked the work and what to do about it."""
    lines = []
    hints = {item.get("conflict_id"): item.get("hint", "") for item in declaration.remediation}
    for conflict in declaration.conflicts:
        hint = hints.get(conflict.id) or conflict.hint
        lines.append(
            f"{conflict.id} ({conflict.severity.upper()} {conflict.conflict_type}: "
            f"{conflict.description})" + (f"; remediation: {hint}" if hint else "")
        )
    return (
        f"MetaQore blocked this work: artifact {declaration.artifact_id} "
        f"({declaration.artifact.get('artifact_type')} v{declaration.artifact.get('version')}) "
        f"has {len(declaration.conflicts)} unresolved conflict(s): {'; '.join(lines)}. "
        "Do not apply it; follow the remediation or wait for a compliance officer."
    )


def outcome(declaration: Declaration) -> dict[str, Any]:
    """The governance answer as plain data (what the adapters put in state or output_info)."""
    return {
        "artifact_id": declaration.artifact_id,
        "outcome": declaration.outcome,
        "blocked": declaration.blocked,
        "conflicts": [conflict.as_json() for conflict in declaration.conflicts],
        "remediation": declaration.remediation,
        "message": remediation_message(declaration) if declaration.blocked else "",
    }


async def declare_async(client: Any, *args: Any, **kwargs: Any) -> Declaration:
    """Declare with a sync or an async client without blocking the event loop."""
    if getattr(client, "is_async", False):
        return await client.artifacts.declare(*args, **kwargs)
    result = await asyncio.to_thread(client.artifacts.declare, *args, **kwargs)
    assert not inspect.isawaitable(result)
    return result
