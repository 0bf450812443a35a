"""Who may read, export and verify the audit trail: org_admin, compliance_officer and auditor
users, and privileged clients (the ``read_audit`` row of access.permissions). Plain agent
keys and viewers get 403."""

from access.permissions import action_permission

CanReadAudit = action_permission(read="read_audit", write="read_audit")
CanReadAudit.__name__ = "CanReadAudit"
