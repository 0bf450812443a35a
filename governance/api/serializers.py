from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from artifacts.models import Conflict
from governance.models import GovernancePolicy
from governance.provider_routing import canonical_policy
from governance.rules import (
    ACTIONS,
    MAX_ITEM_LENGTH,
    MAX_MATCH_ITEMS,
    MAX_RULES,
    SEVERITIES,
    RulesInvalid,
    clean_match,
    clean_rules,
)
from metaqore_site.api.fields import validate_json_value
from metaqore_site.api.serializers import StrictCharField, StrictModelSerializer


class ConflictResolveSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=Conflict.RESOLUTION_STRATEGIES)
    note = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")


class RoutingPolicyField(StrictCharField):
    """A routing policy by its name or an alias (``local_only``, ``enterprise``, …)."""

    def to_internal_value(self, data):
        try:
            return canonical_policy(super().to_internal_value(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class MatchSerializer(serializers.Serializer):
    """What a rule or waiver matches (for the schema; validated by ``governance.rules``).
    Omitted fields match everything; a list matches when any entry fits."""

    conflict_types = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ITEM_LENGTH),
        max_length=MAX_MATCH_ITEMS,
        required=False,
        help_text='Conflict types, or ["*"].',
    )
    min_severity = serializers.ChoiceField(choices=SEVERITIES, required=False)
    project_ids = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ITEM_LENGTH),
        max_length=MAX_MATCH_ITEMS,
        required=False,
    )
    artifact_types = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ITEM_LENGTH),
        max_length=MAX_MATCH_ITEMS,
        required=False,
        help_text="Globs (fnmatch: * ? [..]).",
    )
    agents = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ITEM_LENGTH),
        max_length=MAX_MATCH_ITEMS,
        required=False,
        help_text="Agent names (coder).",
    )
    paths = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ITEM_LENGTH),
        max_length=MAX_MATCH_ITEMS,
        required=False,
        help_text="Globs over the conflict's paths (else the declaration's file_paths).",
    )


class RuleSerializer(serializers.Serializer):
    id = serializers.SlugField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    match = MatchSerializer(required=False)
    action = serializers.ChoiceField(choices=ACTIONS)
    author = serializers.CharField(read_only=True, help_text="Who last changed match or action.")
    author_is_org_admin = serializers.BooleanField(read_only=True)


class RulesField(serializers.ListField):
    """The ordered rules; errors name the rule (its id, or #n) and the field. Validated as a
    whole by ``governance.rules`` (the child serializer documents a rule's shape)."""

    def __init__(self, **kwargs):
        super().__init__(child=RuleSerializer(), max_length=MAX_RULES, **kwargs)

    def to_internal_value(self, data):
        validate_json_value(data)
        try:
            clean_rules(data)
        except RulesInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return data

    def to_representation(self, data):
        return data


@extend_schema_field(MatchSerializer)
class MatchField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        validate_json_value(value)
        try:
            value = clean_match(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        if not value:
            raise serializers.ValidationError(
                "A waiver must be narrow: name at least one field to match."
            )
        return value


class GovernancePolicySerializer(StrictModelSerializer):
    routing_policy = RoutingPolicyField(required=False, max_length=40)
    rules = RulesField(
        required=False,
        help_text="Ordered: the first rule matching a conflict decides its action; "
        "with none, `mode` decides.",
    )

    class Meta:
        model = GovernancePolicy
        fields = [
            "mode",
            "auto_archive_superseded",
            "routing_policy",
            "rules",
            "max_waiver_days",
            "audit_retention_days",
            "revision",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["revision", "updated_at", "updated_by"]
