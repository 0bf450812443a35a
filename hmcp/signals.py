"""Audit ORM writes of HMCP rows that did not come through the services (shell, scripts):
recorded with actor ``system``. State changes of specialists and jobs are refused outright by
their models; these receivers catch the other fields."""

from compliance.audit import connect_audit_signals
from hmcp.models import HierarchyPolicy, Skill, Specialist, TrainingJob
from hmcp.registry import POLICY_FIELDS, SKILL_FIELDS

connect_audit_signals(
    Skill, thing="skill", fields=SKILL_FIELDS, resource_id=lambda skill: skill.skill_id
)
connect_audit_signals(
    HierarchyPolicy,
    thing="hierarchy_policy",
    fields=POLICY_FIELDS,
    update_event=lambda before, after: "hierarchy_policy.changed",
)
connect_audit_signals(
    Specialist,
    thing="specialist",
    fields=(
        "lifecycle",
        "teachers",
        "parameter_count",
        "requested_size_mb",
        "confidence",
        "task_isolation_passed",
        "activation_score",
        "invocations",
        "last_activity_at",
    ),
    project_id=lambda specialist: specialist.project_id,
)
connect_audit_signals(
    TrainingJob,
    thing="training_job",
    fields=("status", "claimed_by", "lease_expires_at", "attempts", "metrics", "failure_reason"),
)
