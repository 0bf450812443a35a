"""Audit ORM writes of projects and tasks that did not come through projects.services
(shell, scripts, third-party code): they are recorded with actor ``system``."""

from compliance.audit import connect_audit_signals
from projects.models import Project, Task
from projects.services import PROJECT_AUDIT_FIELDS, TASK_AUDIT_FIELDS

connect_audit_signals(
    Project, thing="project", fields=PROJECT_AUDIT_FIELDS, project_id=lambda project: project.id
)
connect_audit_signals(
    Task, thing="task", fields=TASK_AUDIT_FIELDS, project_id=lambda task: task.project_id
)
