"""How sensitive a task is: a pure function of its title, assignee and data flags.

Provider routing (``governance.provider_routing``) decides from this level which providers may
receive the task; tasks store it (it only goes up).
"""

from __future__ import annotations

SENSITIVITY_LEVELS = ("public", "internal", "sensitive", "critical")
INTERNAL_TASK_MARKERS = ("plan", "state", "governance")


def rank(level: str) -> int:
    return SENSITIVITY_LEVELS.index(level)


def classify(
    *,
    agent_name: str = "",
    task_type: str = "",
    has_private_data: bool = False,
    has_sensitive_data: bool = False,
    is_security_task: bool = False,
    min_sensitivity: str | None = None,
) -> str:
    """The sensitivity of a task. ``min_sensitivity`` can raise it, never lower it."""
    if is_security_task:
        computed = "critical" if has_sensitive_data else "sensitive"
    elif has_sensitive_data or has_private_data:
        computed = "sensitive"
    elif any(marker in task_type.lower() for marker in INTERNAL_TASK_MARKERS) or (
        "validator" in agent_name.lower()
    ):
        computed = "internal"
    else:
        computed = "public"
    if min_sensitivity and rank(min_sensitivity) > rank(computed):
        return min_sensitivity
    return computed
