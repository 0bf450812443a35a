from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

from artifacts.api.serializers import ConflictSerializer, governance_body
from hmcp import rules
from hmcp.models import HierarchyPolicy, Skill, Specialist, TrainingJob
from hmcp.registry import POLICY_FIELDS
from metaqore_site.api.fields import JSONObjectField
from metaqore_site.api.serializers import StrictCharField, StrictModelSerializer
from projects.models import Project

SKILL_ID = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}\Z",
    "A skill_id is a lowercase slug: letters, digits, '-' and '_' (at most 64).",
)
MAX_TEACHERS = 50


def string_list(*, max_items: int, max_length: int, **kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=max_length, allow_blank=False),
        max_length=max_items,
        **kwargs,
    )


class SkillSerializer(StrictModelSerializer):
    skill_id: serializers.CharField = StrictCharField(max_length=64, validators=[SKILL_ID])
    max_specialist_size_mb = serializers.FloatField(min_value=0.001, max_value=10_000_000)
    allowed_teachers = string_list(max_items=100, max_length=200, required=False, default=list)
    task_patterns = string_list(max_items=200, max_length=500, required=False, default=list)

    class Meta:
        model = Skill
        fields = [
            "skill_id",
            "description",
            "parent_agent",
            "max_specialist_size_mb",
            "allowed_teachers",
            "task_patterns",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class SkillUpdateSerializer(SkillSerializer):
    skill_id = serializers.CharField(read_only=True)
    allowed_teachers = string_list(max_items=100, max_length=200, required=False)
    task_patterns = string_list(max_items=200, max_length=500, required=False)


class ProposalSerializer(serializers.Serializer):
    """A specialist proposal (evaluate and create share it)."""

    skill_id = StrictCharField(max_length=64)
    project_id = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), pk_field=StrictCharField(max_length=32)
    )
    teachers = string_list(max_items=MAX_TEACHERS, max_length=200, required=False, default=list)
    requested_size_mb = serializers.FloatField(min_value=0, max_value=10_000_000)
    parameter_count = serializers.IntegerField(min_value=1, max_value=10**15)
    confidence = serializers.FloatField(
        min_value=0, max_value=1, required=False, allow_null=True, default=None
    )
    task_isolation_passed = serializers.BooleanField(required=False, default=False)
    parent_level_identifier = StrictCharField(
        max_length=16,
        required=False,
        allow_null=True,
        default=None,
        help_text="null: a top-level (level_1) specialist; 'level_1': a child at level_2.",
    )
    parent_specialist_id = StrictCharField(
        max_length=32, required=False, allow_null=True, default=None
    )
    # The stubs miss that SerializerMetaclass takes declared fields off the class (.data stays).
    data = JSONObjectField(required=False, default=dict)  # type: ignore[assignment]  # metaclass
    metadata = JSONObjectField(required=False, default=dict)

    def proposal(self) -> rules.Proposal:
        data = self.validated_data
        return rules.Proposal(
            skill_id=data["skill_id"],
            teachers=tuple(dict.fromkeys(data["teachers"])),
            requested_size_mb=data["requested_size_mb"],
            parameter_count=data["parameter_count"],
            confidence=data["confidence"],
            task_isolation_passed=data["task_isolation_passed"],
            parent_level_identifier=data["parent_level_identifier"],
            parent_specialist_id=data["parent_specialist_id"],
        )


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ProposalRefusedSerializer(serializers.Serializer):
    """The 422 body of a refused proposal: every rule it breaks."""

    detail = serializers.CharField()
    code = serializers.CharField()
    reasons = ReasonSerializer(many=True)


class EvaluationSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)
    skill = SkillSerializer(allow_null=True)
    target_level = serializers.DictField(allow_null=True)
    spawn_decision = serializers.DictField()


def evaluation_body(evaluation: rules.Evaluation, skill: Skill | None) -> dict:
    return {
        "allowed": evaluation.allowed,
        "reasons": [reason.as_dict() for reason in evaluation.reasons],
        "skill": SkillSerializer(skill).data if skill else None,
        "target_level": evaluation.target_level.as_dict() if evaluation.target_level else None,
        "spawn_decision": evaluation.spawn_decision,
    }


class HistoryEntrySerializer(serializers.Serializer):
    state = serializers.CharField()
    at = serializers.CharField(help_text="ISO 8601, UTC")
    by = serializers.CharField(help_text="agent:<name>, user:<name> or system")
    reason = serializers.CharField(allow_blank=True)


class SpecialistSerializer(serializers.ModelSerializer):
    lifecycle_history = HistoryEntrySerializer(many=True, read_only=True)
    skill_id = serializers.CharField(source="skill.skill_id", read_only=True)
    project_id = serializers.CharField(read_only=True)
    artifact_id = serializers.CharField(read_only=True)
    parent_specialist_id = serializers.CharField(
        source="parent_id", read_only=True, allow_null=True
    )

    class Meta:
        model = Specialist
        fields = [
            "id",
            "skill_id",
            "level",
            "lifecycle",
            "lifecycle_history",
            "artifact_id",
            "project_id",
            "parent_specialist_id",
            "teachers",
            "parameter_count",
            "requested_size_mb",
            "confidence",
            "task_isolation_passed",
            "created_by",
            "activation_score",
            "activated_at",
            "invocations",
            "last_activity_at",
            "last_avg_confidence",
            "last_golden_set_score",
            "drift_detected_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TrainingJobSerializer(serializers.ModelSerializer):
    specialist_id = serializers.CharField(read_only=True)
    skill_id = serializers.CharField(source="specialist.skill.skill_id", read_only=True)
    level = serializers.CharField(source="specialist.level", read_only=True)
    artifact_id = serializers.CharField(source="specialist.artifact_id", read_only=True)
    teachers = serializers.JSONField(source="specialist.teachers", read_only=True)
    parameter_count = serializers.IntegerField(source="specialist.parameter_count", read_only=True)

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "specialist_id",
            "skill_id",
            "level",
            "artifact_id",
            "teachers",
            "parameter_count",
            "purpose",
            "status",
            "claimed_by",
            "claimed_at",
            "lease_expires_at",
            "attempts",
            "metrics",
            "gate",
            "failure_reason",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields


class GovernanceSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    mode = serializers.CharField()
    decision_id = serializers.CharField(help_text="The decision log entry (adm_…).")
    conflicts = ConflictSerializer(many=True)
    remediation = serializers.ListField(child=serializers.DictField())


class ProposalResponseSerializer(SpecialistSerializer):
    """The specialist, its training job (null while PSMP blocks it) and the PSMP decision."""

    training_job = TrainingJobSerializer(read_only=True, allow_null=True)
    governance = GovernanceSerializer(read_only=True)

    class Meta(SpecialistSerializer.Meta):
        fields = [*SpecialistSerializer.Meta.fields, "training_job", "governance"]
        read_only_fields = fields


def proposal_body(result) -> dict:
    body = SpecialistSerializer(result.specialist).data
    job = result.training_job
    body["training_job"] = TrainingJobSerializer(job).data if job else None
    body["governance"] = governance_body(result.declaration, result.conflicts)
    return body


class TransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(
        choices=[Specialist.Lifecycle.DEPRECATED, Specialist.Lifecycle.BLOCKED]
    )
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["to"] == Specialist.Lifecycle.BLOCKED and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": ["Blocking needs a reason."]})
        return attrs


class ObservationSerializer(serializers.Serializer):
    invocations = serializers.IntegerField(min_value=0, max_value=10**12)
    avg_confidence = serializers.FloatField(
        min_value=0, max_value=1, required=False, allow_null=True, default=None
    )
    golden_set_score = serializers.FloatField(
        min_value=0, max_value=1, required=False, allow_null=True, default=None
    )


class ObservationResponseSerializer(SpecialistSerializer):
    drift = serializers.DictField(read_only=True, allow_null=True)

    class Meta(SpecialistSerializer.Meta):
        fields = [*SpecialistSerializer.Meta.fields, "drift"]
        read_only_fields = fields


class CompleteSerializer(serializers.Serializer):
    metrics = JSONObjectField(
        help_text='{"functional_unit_test": 0.97, "catastrophic_forgetting_drop": 0.004, '
        '"adversarial_robustness": true, "psmp_compatibility": true, "golden_set_score": 0.95}'
    )


class FailSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000)


class JobResultSerializer(TrainingJobSerializer):
    """The finished job and the specialist the gate (or the failure) moved."""

    # A plain string here, so the schema's one TrainingJobStatusEnum stays on TrainingJob.
    status = serializers.CharField(read_only=True, help_text="completed or failed")
    specialist = SpecialistSerializer(read_only=True)

    class Meta(TrainingJobSerializer.Meta):
        fields = [*TrainingJobSerializer.Meta.fields, "specialist"]
        read_only_fields = fields


class HierarchyPolicySerializer(StrictModelSerializer):
    levels = JSONObjectField(required=False)

    class Meta:
        model = HierarchyPolicy
        fields = [*POLICY_FIELDS, "revision", "updated_at", "updated_by"]
        read_only_fields = ["revision", "updated_at", "updated_by"]

    def validate_levels(self, value):
        try:
            rules.parse_levels(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class DiscoveryQuerySerializer(serializers.Serializer):
    min_repetitions = serializers.IntegerField(min_value=2, max_value=1_000_000, required=False)
    days = serializers.IntegerField(min_value=1, max_value=365, required=False)


class DiscoverySerializer(serializers.Serializer):
    agent = serializers.CharField()
    pattern = serializers.CharField()
    count = serializers.IntegerField()
    examples = serializers.ListField(child=serializers.CharField())
    existing_skill = serializers.CharField(allow_null=True)
    suggested_skill_id = serializers.CharField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()


class DiscoveryReportSerializer(serializers.Serializer):
    results = DiscoverySerializer(many=True)
    since = serializers.DateTimeField()
    days = serializers.IntegerField()
    min_repetitions = serializers.IntegerField()
    scanned_tasks = serializers.IntegerField()
    truncated = serializers.BooleanField()
