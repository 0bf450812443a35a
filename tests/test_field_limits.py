"""Field limits agree end to end (issue #18, defect 5): every serializer field with a maximum
length fits the column it lands in, the audit trail's columns included, and one character
more is a 400 naming the field, never a 500 from PostgreSQL ("value too long").

The walk covers every serializer of the project, present and future: a new field with a
``max_length`` fails here until its destination is known (a model field of its
ModelSerializer, or an entry in DESTINATIONS).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.postgres.fields import ArrayField
from django.db import models
from rest_framework import serializers

from access.models import Agent
from artifacts.models import Conflict
from compliance.models import AuditEvent, Erasure
from governance.models import GovernancePolicy, Provider, Waiver
from governance.provider_routing import POLICY_ALIASES
from hmcp.models import Skill, TrainingJob
from tests.conftest import client_for, make_agent_key

APPS = (
    "metaqore_site", "access", "tenants", "compliance", "projects", "artifacts", "governance",
    "hmcp", "events", "dashboard",
)  # fmt: skip

JSON = "stored in a JSON document (no column limit)"
LOOKUP = "only compared with stored ids (never written)"
NOT_STORED = "never stored (a secret or a token checked and dropped)"
CANONICAL = "replaced by one of a fixed set of names (test_canonical_values_fit)"


def audit(name: str) -> models.Field:
    return AuditEvent._meta.get_field(name)


# Where the fields of plain (non-model) serializers land: model columns, or a reason why no
# column limit applies. The audit columns a value is copied into count as destinations too.
DESTINATIONS: dict[tuple[str, str], list[models.Field | str]] = {
    ("OrgTokenObtainPairSerializer", "username"): [get_user_model()._meta.get_field("username")],
    ("OrgTokenObtainPairSerializer", "password"): [NOT_STORED],
    ("OrgTokenRefreshSerializer", "refresh"): [NOT_STORED],
    ("AgentKeyCreateSerializer", "agent"): [
        Agent._meta.get_field("name"),
        audit("agent_name"),
        audit("resource_id"),
    ],
    ("ArtifactTransitionSerializer", "reason"): [JSON],
    ("GovernancePolicySerializer", "routing_policy"): [CANONICAL],
    ("AutoResolveRequest", "project_id"): [LOOKUP],
    ("ClassifyRequestSerializer", "agent_name"): [audit("agent_name")],
    ("ClassifyRequestSerializer", "task_type"): [audit("task_type")],
    ("EnforceRequestSerializer", "agent_name"): [audit("agent_name")],
    ("EnforceRequestSerializer", "task_type"): [audit("task_type")],
    ("EnforceRequestSerializer", "provider"): [audit("provider"), Provider._meta.get_field("name")],
    ("EnforceRequestSerializer", "task_id"): [LOOKUP, JSON],
    ("EnforceRequestSerializer", "project_id"): [LOOKUP, audit("project_id")],
    ("ConflictResolveSerializer", "note"): [Conflict._meta.get_field("note"), JSON],
    ("BlockingReportQuery", "project_id"): [LOOKUP],
    ("ProposalSerializer", "skill_id"): [LOOKUP, Skill._meta.get_field("skill_id")],
    ("ProposalSerializer", "teachers[]"): [JSON],
    ("ProposalSerializer", "parent_level_identifier"): [LOOKUP, JSON],
    ("ProposalSerializer", "parent_specialist_id"): [LOOKUP],
    ("TransitionSerializer", "reason"): [JSON],
    ("FailSerializer", "reason"): [TrainingJob._meta.get_field("failure_reason"), JSON],
    # Rules and waivers (#20): match criteria and rule texts live in JSON documents.
    ("MatchSerializer", "conflict_types[]"): [JSON],
    ("MatchSerializer", "project_ids[]"): [JSON],
    ("MatchSerializer", "artifact_types[]"): [JSON],
    ("MatchSerializer", "agents[]"): [JSON],
    ("MatchSerializer", "paths[]"): [JSON],
    ("RuleSerializer", "id"): [JSON],
    ("RuleSerializer", "description"): [JSON],
    ("WaiverRevokeSerializer", "reason"): [Waiver._meta.get_field("revoke_reason"), JSON],
    # Evidence (#23): an erasure request's reason
    ("ErasureRequestSerializer", "reason"): [Erasure._meta.get_field("reason"), JSON],
}

# Model serializer fields that also land in an audit column (beyond their own model column).
AUDIT_COPIES: dict[str, list[models.Field]] = {
    "created_by": [audit("agent_name")],  # a privileged client declares for an agent
    "skill_id": [audit("resource_id")],
    "name": [audit("resource_id")],  # providers are audited by name
}


def test_canonical_values_fit():
    column = GovernancePolicy._meta.get_field("routing_policy").max_length
    assert all(len(name) <= column for name in POLICY_ALIASES.values())


def project_serializers() -> list[type[serializers.Serializer]]:
    for app in APPS:
        try:
            package = importlib.import_module(f"{app}.api")
        except ModuleNotFoundError:
            continue
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{app}.api.{module.name}")

    found: list[type[serializers.Serializer]] = []

    def walk(cls: type) -> None:
        for sub in cls.__subclasses__():
            concrete = not issubclass(sub, serializers.ModelSerializer) or hasattr(sub, "Meta")
            if sub.__module__.split(".")[0] in APPS and concrete and sub not in found:
                found.append(sub)
            walk(sub)

    walk(serializers.Serializer)
    return found


def limited_fields() -> Iterator[tuple[type, str, serializers.Field, int]]:
    """(serializer class, field name, field, max length) of every writable string field."""
    for cls in project_serializers():
        for name, field in cls().fields.items():
            if field.read_only:
                continue
            candidates = [(name, field)]
            if isinstance(field, serializers.ListField):
                candidates.append((f"{name}[]", field.child))
            for label, candidate in candidates:
                if isinstance(candidate, serializers.CharField) and candidate.max_length:
                    yield cls, label, candidate, candidate.max_length


def column_limit(destination: models.Field | str) -> int | None:
    if isinstance(destination, str):
        return None
    if isinstance(destination, ArrayField):
        destination = destination.base_field
    if isinstance(destination, models.JSONField | models.TextField):
        return None  # a TextField's max_length is a form hint, not a column limit
    return destination.max_length


def destinations(cls: type, label: str, field: serializers.Field) -> list[models.Field | str]:
    if (cls.__name__, label) in DESTINATIONS:
        return DESTINATIONS[(cls.__name__, label)]
    model = getattr(getattr(cls, "Meta", None), "model", None)
    assert model is not None, (
        f"{cls.__module__}.{cls.__name__}.{label}: where does it land? Add it to DESTINATIONS."
    )
    source = (field.parent.source if label.endswith("[]") else field.source) or label
    model_field = model._meta.get_field(source.split(".")[0])
    return [model_field, *AUDIT_COPIES.get(label, [])]


def test_every_serializer_limit_fits_its_columns():
    checked, problems = 0, []
    for cls, label, field, max_length in limited_fields():
        for destination in destinations(cls, label, field):
            limit = column_limit(destination)
            checked += 1
            if limit is not None and limit < max_length:
                problems.append(
                    f"{cls.__name__}.{label} accepts {max_length} characters, "
                    f"{destination.model.__name__}.{destination.name} holds {limit}"
                )
    assert checked > 50  # the walk found the project's serializers
    assert problems == []


def test_every_limit_is_a_field_error_one_character_above(org_a):
    for cls, label, field, max_length in limited_fields():
        name = label.removesuffix("[]")
        value = "x" * (max_length + 1)
        serializer = cls(data={name: [value] if label.endswith("[]") else value})
        assert not serializer.is_valid(), (cls.__name__, label)
        assert name in serializer.errors, (cls.__name__, label, serializer.errors)


@pytest.mark.parametrize("endpoint", ["classify", "enforce"])
def test_routing_task_type_above_the_audit_column_is_400(org_a, endpoint):
    """Reproduced: 101-200 characters passed the serializer and failed in the audit insert."""
    client = client_for(org_a, key=make_agent_key(org_a))
    body = {"task_type": "t" * 150, "provider": "openai"}
    response = client.post(f"/api/v1/governance/routing/{endpoint}", body)
    assert response.status_code == 400
    assert "task_type" in response.json()
    ok = client.post(f"/api/v1/governance/routing/{endpoint}", {**body, "task_type": "t" * 100})
    assert ok.status_code in (200, 403), ok.content  # 403: a routing veto, still audited
    assert AuditEvent.objects.filter(task_type="t" * 100).exists()
