from rest_framework import serializers

from artifacts.models import Conflict
from governance.models import GovernancePolicy
from governance.provider_routing import canonical_policy
from metaqore_site.api.serializers import StrictCharField, StrictModelSerializer


class ConflictResolveSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=Conflict.Strategy.choices)
    note = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")


class RoutingPolicyField(StrictCharField):
    """A routing policy by its name or an alias (``local_only``, ``enterprise``, …)."""

    def to_internal_value(self, data):
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
