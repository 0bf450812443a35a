"""The four roles of an organization; each is a Django group in the org's schema."""

ORG_ADMIN = "org_admin"
COMPLIANCE_OFFICER = "compliance_officer"
AUDITOR = "auditor"
VIEWER = "viewer"

ROLES = (ORG_ADMIN, COMPLIANCE_OFFICER, AUDITOR, VIEWER)
