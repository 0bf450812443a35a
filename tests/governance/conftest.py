from access.actors import Actor
from governance.policy import policy_update
from tests.artifacts.conftest import coder, project, tester

__all__ = ["coder", "project", "tester"]  # fixtures shared with the artifact tests

ADMIN = Actor("user", "adam", roles=frozenset({"org_admin"}))
OFFICER = Actor("user", "olivia", roles=frozenset({"compliance_officer"}))
CODER = Actor("agent", "coder")
TESTER = Actor("agent", "tester")


def set_policy(**changes):
    return policy_update(actor=ADMIN, changes=changes)


def rule(rule_id: str, action: str, **match) -> dict:
    return {"id": rule_id, "description": f"{rule_id} rule", "match": match, "action": action}
