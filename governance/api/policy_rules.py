"""Policy as rules over the API: waivers, the decision log, policy revisions and restore,
simulation of a proposed policy, and each rule's report."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from access.permissions import action_permission
from governance.api.filters import DecisionFilter, WaiverFilter
from governance.api.serializers import GovernancePolicySerializer, MatchField, RulesField
from governance.models import AdmissionDecision, GovernancePolicy, PolicyRevision, Waiver
from governance.policy import policy_restore
from governance.rules import OUTCOMES
from governance.simulation import (
    BY_RULE_KEYS,
    MAX_DECISIONS,
    policy_simulate_change,
    rules_report,
)
from governance.waivers import waiver_create, waiver_revoke
from metaqore_site.api.serializers import StrictCharField, StrictModelSerializer
from metaqore_site.api.viewsets import GovernedAPIView, GovernedReadOnlyViewSet, GovernedViewSet

# --- waivers -----------------------------------------------------------------------------------


class WaiverSerializer(StrictModelSerializer):
    match = MatchField(help_text="What the waiver covers (at least one field).")
    justification = StrictCharField(max_length=5000)
    status = serializers.SerializerMethodField(help_text="active, expired or revoked (now).")

    class Meta:
        model = Waiver
        fields = [
            "id",
            "match",
            "justification",
            "expires_at",
            "status",
            "created_by",
            "created_at",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
            "use_count",
            "last_used_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "created_by",
            "created_at",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
            "use_count",
            "last_used_at",
        ]

    def get_status(self, waiver: Waiver) -> str:
        return waiver.status_at(self.context["now"])


class WaiverRevokeSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")


class WaiverViewSet(GovernedViewSet):
    """Waivers, soonest expiry first. Granting and revoking: compliance officers and org
    admins; ``expires_at`` is required, at most ``max_waiver_days`` ahead."""

    queryset = Waiver.objects.order_by("expires_at", "id")
    serializer_class = WaiverSerializer
    filterset_class = WaiverFilter
    permission_classes = [action_permission(read="read", write="grant_waiver")]
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": self.request_time}

    def initial(self, request, *args, **kwargs):
        self.request_time = timezone.now()
        super().initial(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = waiver_create(
            actor=self.actor, now=self.request_time, **serializer.validated_data
        )

    @extend_schema(request=WaiverRevokeSerializer, responses={200: WaiverSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        body = WaiverRevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        waiver = waiver_revoke(
            waiver=self.get_object(),
            actor=self.actor,
            reason=body.validated_data["reason"],
            now=self.request_time,
        )
        return Response(self.get_serializer(waiver).data)


# --- the decision log --------------------------------------------------------------------------


class DecisionConflictSerializer(serializers.Serializer):
    conflict_id = serializers.CharField()
    conflict_type = serializers.CharField()
    severity = serializers.CharField()
    paths = serializers.ListField(child=serializers.CharField())
    details = serializers.DictField()
    rule_id = serializers.CharField(allow_null=True)
    action = serializers.CharField()
    waiver_id = serializers.CharField(allow_null=True)


class DecisionSerializer(StrictModelSerializer):
    conflicts = DecisionConflictSerializer(many=True, read_only=True)

    class Meta:
        model = AdmissionDecision
        fields = [
            "id",
            "created_at",
            "kind",
            "actor",
            "actor_privileged",
            "project_id",
            "artifact_id",
            "artifact_type",
            "agent",
            "file_paths",
            "policy_revision",
            "mode",
            "conflicts",
            "rule_ids",
            "outcome",
            "held",
        ]
        read_only_fields = fields


class DecisionViewSet(GovernedReadOnlyViewSet):
    """Every declaration's decision, newest first (filters: project, outcome, rule, since)."""

    queryset = AdmissionDecision.objects.order_by("-created_at", "-id")
    serializer_class = DecisionSerializer
    filterset_class = DecisionFilter
    permission_classes = [action_permission(read="read")]


# --- revisions ---------------------------------------------------------------------------------


class PolicyRevisionSerializer(StrictModelSerializer):
    class Meta:
        model = PolicyRevision
        fields = ["number", "created_at", "created_by", "changes", "restored_from", "snapshot"]
        read_only_fields = fields


class PolicyRevisionViewSet(GovernedReadOnlyViewSet):
    """Kept revisions of the policy, newest first: who, when, the diff, the whole policy."""

    queryset = PolicyRevision.objects.order_by("-number")
    serializer_class = PolicyRevisionSerializer
    lookup_field = "number"
    lookup_value_regex = "[0-9]{1,9}"
    permission_classes = [action_permission(read="read", write="change_policy")]

    @extend_schema(request=None, responses={200: GovernancePolicySerializer})
    @action(detail=True, methods=["post"])
    def restore(self, request, *args, **kwargs):
        revision = self.get_object()
        policy = policy_restore(actor=self.actor, number=revision.number)
        request._request.governance_mode = policy.mode
        return Response(GovernancePolicySerializer(policy).data)


# --- simulation and report ---------------------------------------------------------------------


class ProposedPolicySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=GovernancePolicy.Mode.choices, required=False)
    rules = RulesField(required=False, help_text="Omitted: the current rules.")


class SimulationRequestSerializer(serializers.Serializer):
    policy = ProposedPolicySerializer()
    since = serializers.DateTimeField(required=False, help_text="Replay decisions since then.")
    last = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_DECISIONS,
        help_text="Replay the newest N decisions (default 1000).",
    )

    def validate(self, attrs):
        if "since" in attrs and "last" in attrs:
            raise serializers.ValidationError({"last": ["Give either since or last, not both."]})
        return attrs


RuleCounts = inline_serializer(
    "SimulationRuleCounts", {key: serializers.IntegerField() for key in BY_RULE_KEYS}
)
SimulationResult = inline_serializer(
    "SimulationResult",
    {
        "decisions": serializers.IntegerField(help_text="Decisions replayed."),
        "changed": serializers.IntegerField(),
        "newly_blocked": serializers.IntegerField(),
        "newly_allowed": serializers.IntegerField(),
        "blocked_before": serializers.IntegerField(),
        "blocked_after": serializers.IntegerField(),
        "by_rule": serializers.DictField(child=RuleCounts),
        "examples": inline_serializer(
            "SimulationExample",
            {
                "decision_id": serializers.CharField(),
                "created_at": serializers.DateTimeField(),
                "project_id": serializers.CharField(),
                "artifact_id": serializers.CharField(),
                "before": serializers.ChoiceField(choices=OUTCOMES),
                "after": serializers.ChoiceField(choices=OUTCOMES),
                "rules": serializers.ListField(child=serializers.CharField()),
            },
            many=True,
        ),
        "first_decision_at": serializers.DateTimeField(allow_null=True),
        "last_decision_at": serializers.DateTimeField(allow_null=True),
        "policy": inline_serializer(
            "SimulatedPolicy",
            {"mode": serializers.CharField(), "rules": RulesField()},
        ),
        "current_revision": serializers.IntegerField(),
    },
)


class PolicySimulateView(GovernedAPIView):
    """Replay recorded decisions under a proposed policy. Changes nothing, records nothing."""

    permission_classes = [action_permission(read="simulate_policy", write="simulate_policy")]
    may_conflict = False

    @extend_schema(request=SimulationRequestSerializer, responses={200: SimulationResult})
    def post(self, request):
        body = SimulationRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = policy_simulate_change(
            actor=self.actor,
            mode=data["policy"].get("mode"),
            rules=data["policy"].get("rules"),
            since=data.get("since"),
            last=data.get("last"),
        )
        return Response(result, status=status.HTTP_200_OK)


class RulesReportQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=90, default=7)


class RulesReportView(GovernedAPIView):
    """Each rule of the policy in force: conflicts matched, blocked and would-have-blocked
    (dry run) over the last ``days`` days."""

    permission_classes = [action_permission(read="read")]

    @extend_schema(
        parameters=[RulesReportQuery],
        responses={
            200: inline_serializer(
                "RulesReport",
                {
                    "days": serializers.IntegerField(),
                    "since": serializers.DateTimeField(),
                    "rules": serializers.DictField(
                        child=inline_serializer(
                            "RuleReport",
                            {
                                name: serializers.IntegerField()
                                for name in (
                                    "matched",
                                    "blocked",
                                    "would_have_blocked",
                                    "warned",
                                    "dryrun",
                                    "auto_resolved",
                                )
                            },
                        )
                    ),
                },
            )
        },
    )
    def get(self, request):
        query = RulesReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        policy = GovernancePolicy.load()
        return Response(rules_report(policy.rules, days=query.validated_data["days"]))
