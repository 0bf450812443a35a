from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from artifacts.models import Artifact, Conflict
from governance.rules import OUTCOMES
from metaqore_site.api.fields import (
    IdListField,
    JSONObjectField,
    PublicIdRelatedField,
    validate_json_value,
)
from metaqore_site.api.serializers import (
    LineField,
    StrictCharField,
    StrictModelSerializer,
    render,
    render_many,
    unstorable_text,
)
from projects.models import Project


class ConflictSerializer(StrictModelSerializer):
    project_id = serializers.CharField(read_only=True)
    artifact_id = serializers.CharField(read_only=True)
    resolution_strategy = serializers.ChoiceField(
        choices=Conflict.Strategy.choices,
        allow_blank=True,
        read_only=True,
        help_text="Empty until the conflict is resolved (or escalated).",
    )
    rule_id = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The policy rule that decided the action (null: the mode decided).",
    )
    action = serializers.ChoiceField(
        choices=Conflict.Action.choices,
        allow_blank=True,
        read_only=True,
        help_text="What the policy did at detection: enforce, warn, dryrun, auto_resolve, "
        "waived (empty for conflicts detected before rules existed).",
    )

    class Meta:
        model = Conflict
        fields = [
            "id",
            "project_id",
            "artifact_id",
            "conflict_type",
            "severity",
            "description",
            "details",
            "hint",
            "suggested_strategy",
            "status",
            "resolution_strategy",
            "resolved_by",
            "resolved_at",
            "note",
            "rule_id",
            "action",
            "decision_id",
            "created_at",
        ]
        read_only_fields = fields


class RemediationSerializer(serializers.Serializer):
    conflict_id = serializers.CharField()
    hint = serializers.CharField()


class GovernanceOutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    mode = serializers.CharField()
    decision_id = serializers.CharField(
        allow_null=True,
        help_text="The decision log entry (adm_…); null when an update changed nothing.",
    )
    conflicts = ConflictSerializer(many=True)
    remediation = RemediationSerializer(many=True)


def remediation_for(conflicts) -> list[dict]:
    return [
        {"conflict_id": c.id, "hint": c.hint}
        for c in conflicts
        if c.status in Conflict.UNRESOLVED and c.hint
    ]


MAX_FILE_PATHS = 500
MAX_REQUIREMENTS = 200


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": 200},
        "maxProperties": MAX_REQUIREMENTS,
        "description": "Package name (at most 100 characters) → PEP 440 specifier.",
    }
)
class RequirementsField(serializers.DictField):
    """package name → PEP 440 specifier (validated by the service; strings only here)."""

    def __init__(self, **kwargs):
        super().__init__(child=StrictCharField(max_length=200), **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > MAX_REQUIREMENTS:
            raise serializers.ValidationError(f"At most {MAX_REQUIREMENTS} packages.")
        for name in value:
            reason = unstorable_text(name)
            if reason:
                raise serializers.ValidationError(f"Invalid package name: {reason}")
            if not name or len(name) > 100:
                raise serializers.ValidationError(f"Invalid package name '{name[:100]}'.")
        return value


class ArtifactSerializer(StrictModelSerializer):
    project_id = PublicIdRelatedField(source="project", queryset=Project.objects.all())
    version = serializers.IntegerField(min_value=1, max_value=2_000_000_000, required=False)
    # The stubs miss that SerializerMetaclass takes declared fields off the class (.data stays).
    data = JSONObjectField()  # type: ignore[assignment]  # metaclass
    depends_on = IdListField(prefix="art_", required=False, default=list)
    file_paths = serializers.ListField(
        child=LineField(max_length=1000),
        max_length=MAX_FILE_PATHS,
        required=False,
        default=list,
    )
    requirements = RequirementsField(required=False, default=dict)
    metadata = JSONObjectField(required=False, default=dict)
    created_by = LineField(
        max_length=200,
        required=False,
        help_text="From the credential; a privileged client may declare on behalf of an agent.",
    )

    class Meta:
        model = Artifact
        fields = [
            "id",
            "project_id",
            "artifact_type",
            "version",
            "data",
            "created_by",
            "state",
            "depends_on",
            "file_paths",
            "requirements",
            "metadata",
            "content_hash",
            "is_blocked",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "state", "content_hash", "is_blocked", "created_at", "updated_at"]
        # The version is assigned under a lock by the service (the unique constraint backs it);
        # DRF's unique-together validator would demand a version in every body.
        validators: list = []

    def validate_file_paths(self, value):
        for path in value:
            validate_json_value(path)
        return value


IDENTITY_FIELDS = ("project_id", "artifact_type", "version", "created_by")


class ArtifactUpdateSerializer(ArtifactSerializer):
    """PATCH: only a draft's content may change; identity fields are refused, not ignored."""

    def validate(self, attrs):
        sent = [name for name in IDENTITY_FIELDS if name in self.initial_data]
        if sent:
            raise serializers.ValidationError(
                {name: ["Cannot be changed; declare a new artifact instead."] for name in sent}
            )
        return {name: value for name, value in attrs.items() if name in Artifact.CONTENT_FIELDS}


class ArtifactTransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=[Artifact.State.ACTIVE, Artifact.State.ARCHIVED])
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class DeclarationResponseSerializer(ArtifactSerializer):
    """The artifact plus the governance decision (201 and 409 bodies share this shape)."""

    governance = GovernanceOutcomeSerializer(read_only=True)

    class Meta(ArtifactSerializer.Meta):
        fields = [*ArtifactSerializer.Meta.fields, "governance"]


def governance_body(result, conflicts=None) -> dict:
    """``governance`` of a declaration's answer. Conflicts a dry-run rule recorded are not the
    agent's concern (they block nothing): they are in the conflict list and the decision log."""
    listed = result.conflicts if conflicts is None else conflicts
    shown = [c for c in listed if c.status != Conflict.Status.DRYRUN]
    return {
        "outcome": result.outcome,
        "mode": result.mode,
        "decision_id": result.decision_id,
        "conflicts": render_many(ConflictSerializer, shown),
        "remediation": remediation_for(shown),
    }


def declaration_body(result) -> dict:
    """The artifact and the governance decision on it."""
    body = render(ArtifactSerializer, result.artifact)
    body["governance"] = governance_body(result)
    return body
