from rest_framework import serializers

from governance.models import Conflict, GovernancePolicy
from metaqore_site.api.serializers import StrictCharField, StrictModelSerializer


class ConflictSerializer(StrictModelSerializer):
    project_id = serializers.CharField(read_only=True)
    artifact_id = serializers.CharField(read_only=True)
    resolution_strategy = serializers.ChoiceField(
        choices=Conflict.Strategy.choices,
        allow_blank=True,
        read_only=True,
        help_text="Empty until the conflict is resolved (or escalated).",
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
            "created_at",
        ]
        read_only_fields = fields


class ConflictResolveSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=Conflict.Strategy.choices)
    note = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")


class RoutingPolicyField(StrictCharField):
    """A routing policy by its name or an alias (``local_only``, ``enterprise``, …)."""

    def to_internal_value(self, data):
        from governance.routing import canonical_policy

        try:
            return canonical_policy(super().to_internal_value(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class GovernancePolicySerializer(StrictModelSerializer):
    routing_policy = RoutingPolicyField(required=False, max_length=40)

    class Meta:
        model = GovernancePolicy
        fields = [
            "mode",
            "auto_archive_superseded",
            "routing_policy",
            "revision",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["revision", "updated_at", "updated_by"]


class RemediationSerializer(serializers.Serializer):
    conflict_id = serializers.CharField()
    hint = serializers.CharField()


class GovernanceOutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["accepted", "auto_resolved", "blocked", "accepted_with_warnings"]
    )
    mode = serializers.CharField()
    conflicts = ConflictSerializer(many=True)
    remediation = RemediationSerializer(many=True)


def remediation_for(conflicts) -> list[dict]:
    return [
        {"conflict_id": c.id, "hint": c.hint}
        for c in conflicts
        if c.status in Conflict.UNRESOLVED and c.hint
    ]
