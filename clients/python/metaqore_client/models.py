"""Typed results: what agents branch on, without digging through dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypedDict, TypeVar

from metaqore_client.errors import BlockedError

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """DRF's page: ``count``, ``next``/``previous`` (URLs or None) and ``results``."""

    count: int
    next: str | None
    previous: str | None
    results: list[T]


class Project(TypedDict, total=False):
    id: str
    name: str
    description: str
    owner_id: str
    status: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str


class Task(TypedDict, total=False):
    id: str
    project_id: str
    title: str
    description: str
    status: str
    assigned_to: str
    depends_on: list[str]
    metadata: dict[str, Any]
    sensitivity: str
    created_at: str
    updated_at: str
    completed_at: str | None


class Artifact(TypedDict, total=False):
    id: str
    project_id: str
    artifact_type: str
    version: int
    data: dict[str, Any]
    created_by: str
    state: str
    depends_on: list[str]
    file_paths: list[str]
    requirements: dict[str, str]
    metadata: dict[str, Any]
    content_hash: str
    is_blocked: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Conflict:
    id: str
    conflict_type: str
    severity: str
    status: str
    description: str
    hint: str
    suggested_strategy: str
    details: dict[str, Any] = field(default_factory=dict)
    rule_id: str | None = None  # the policy rule that decided (None: the org's mode did)
    action: str = ""  # enforce | warn | dryrun | auto_resolve | waived
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Conflict:
        return cls(
            id=data["id"],
            conflict_type=data["conflict_type"],
            severity=data["severity"],
            status=data["status"],
            description=data.get("description", ""),
            hint=data.get("hint", ""),
            suggested_strategy=data.get("suggested_strategy", ""),
            details=data.get("details") or {},
            rule_id=data.get("rule_id"),
            action=data.get("action") or "",
            raw=data,
        )

    def as_json(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class Declaration:
    """The answer to a declaration: accepted, auto_resolved, accepted_with_warnings or blocked.
    A block is an outcome, not an exception: the artifact is stored and humans can act on it."""

    outcome: str
    mode: str
    artifact: dict[str, Any]
    conflicts: list[Conflict]
    remediation: list[dict[str, str]]
    decision_id: str | None = None  # the server's decision log entry (adm_…)

    @property
    def artifact_id(self) -> str:
        return self.artifact["id"]

    @property
    def blocked(self) -> bool:
        return self.outcome == "blocked"

    @property
    def accepted(self) -> bool:
        return self.outcome in ("accepted", "auto_resolved", "accepted_with_warnings")

    def raise_if_blocked(self) -> Declaration:
        """Raise :class:`BlockedError` (with the conflicts and remediation) when blocked."""
        if self.blocked:
            raise BlockedError(409, self.body)
        return self

    @property
    def body(self) -> dict[str, Any]:
        """The response body as the server sent it (the artifact plus ``governance``)."""
        return {
            **self.artifact,
            "governance": {
                "outcome": self.outcome,
                "mode": self.mode,
                "decision_id": self.decision_id,
                "conflicts": [conflict.as_json() for conflict in self.conflicts],
                "remediation": self.remediation,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Declaration:
        governance = data.get("governance") or {}
        artifact = {key: value for key, value in data.items() if key != "governance"}
        return cls(
            outcome=governance.get("outcome", "accepted"),
            mode=governance.get("mode", ""),
            artifact=artifact,
            conflicts=[Conflict.from_json(c) for c in governance.get("conflicts", [])],
            remediation=list(governance.get("remediation", [])),
            decision_id=governance.get("decision_id"),
        )


@dataclass(frozen=True)
class RoutingDecision:
    """Allowed or vetoed; a veto (HTTP 403) is returned, not raised."""

    allowed: bool
    sensitivity: str
    allowed_providers: list[str]
    recommended_provider: str | None
    decision_id: str
    policy: str
    policy_revision: int
    veto: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoutingDecision:
        return cls(
            allowed=data.get("allowed", True),
            sensitivity=data["sensitivity"],
            allowed_providers=list(data.get("allowed_providers", [])),
            recommended_provider=data.get("recommended_provider"),
            decision_id=data["decision_id"],
            policy=data["policy"],
            policy_revision=data["policy_revision"],
            veto=data.get("veto"),
        )


@dataclass(frozen=True)
class Event:
    """One governance event from the live stream (``seq`` is the resume cursor)."""

    seq: int
    event_type: str
    data: dict[str, Any]
