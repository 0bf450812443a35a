"""Security routing endpoints and provider management."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response

from access.permissions import action_permission
from governance.models import Provider
from governance.provider_routing import routing_decide
from governance.providers import provider_create, provider_delete, provider_update
from metaqore_site.api.openapi import ErrorSerializer
from metaqore_site.api.serializers import LineField, StrictCharField, StrictModelSerializer
from metaqore_site.api.viewsets import GovernedAPIView, GovernedViewSet
from projects.sensitivity import SENSITIVITY_LEVELS


class ClassifyRequestSerializer(serializers.Serializer):
    agent_name = LineField(max_length=200, required=False, allow_blank=True, default="")
    task_type = LineField(max_length=100, required=False, allow_blank=True, default="")
    has_private_data = serializers.BooleanField(required=False, default=False)
    has_sensitive_data = serializers.BooleanField(required=False, default=False)
    is_security_task = serializers.BooleanField(required=False, default=False)
    min_sensitivity = serializers.ChoiceField(
        choices=SENSITIVITY_LEVELS, required=False, allow_null=True, default=None
    )


class EnforceRequestSerializer(ClassifyRequestSerializer):
    provider = LineField(max_length=100)
    task_id = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    project_id = StrictCharField(max_length=32, required=False, allow_blank=True, default="")


DECISION_FIELDS: dict[str, serializers.Field] = {
    "decision_id": serializers.CharField(),
    "sensitivity": serializers.ChoiceField(choices=SENSITIVITY_LEVELS),
    "allowed_providers": serializers.ListField(child=serializers.CharField()),
    "recommended_provider": serializers.CharField(allow_null=True),
    "policy": serializers.CharField(),
    "policy_revision": serializers.IntegerField(),
}
ClassifyResponse = inline_serializer("RoutingClassification", DECISION_FIELDS)
EnforceResponse = inline_serializer(
    "RoutingEnforcement",
    {
        **DECISION_FIELDS,
        "allowed": serializers.BooleanField(),
        "provider": serializers.CharField(),
        "veto": serializers.DictField(required=False),
    },
)


def decision_body(decision) -> dict:
    return {
        "decision_id": decision.decision_id,
        "sensitivity": decision.sensitivity,
        "allowed_providers": decision.allowed_providers,
        "recommended_provider": decision.recommended_provider,
        "policy": decision.policy,
        "policy_revision": decision.policy_revision,
    }


class RoutingClassifyView(GovernedAPIView):
    permission_classes = [action_permission(read="read", write="write_work")]
    may_conflict = False

    @extend_schema(request=ClassifyRequestSerializer, responses={200: ClassifyResponse})
    def post(self, request):
        serializer = ClassifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = routing_decide(actor=self.actor, **serializer.validated_data)
        return Response(decision_body(decision))


class RoutingEnforceView(GovernedAPIView):
    permission_classes = [action_permission(read="read", write="write_work")]
    may_conflict = False

    @extend_schema(
        request=EnforceRequestSerializer,
        responses={
            200: EnforceResponse,
            403: OpenApiResponse(
                PolymorphicProxySerializer(
                    "EnforceForbidden",
                    serializers=[EnforceResponse, ErrorSerializer],
                    resource_type_field_name=None,
                ),
                "Vetoed (the decision, with `veto`), or the role may not ask.",
            ),
        },
    )
    def post(self, request):
        serializer = EnforceRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = routing_decide(actor=self.actor, **serializer.validated_data)
        body = {
            **decision_body(decision),
            "allowed": decision.allowed,
            "provider": decision.provider,
        }
        if not decision.allowed:
            body["veto"] = decision.veto
            return Response(body, status=status.HTTP_403_FORBIDDEN)
        return Response(body)


class ProviderSerializer(StrictModelSerializer):
    class Meta:
        model = Provider
        fields = [
            "name",
            "kind",
            "available",
            "latency_ms",
            "capacity_score",
            "priority",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        extra_kwargs = {"capacity_score": {"min_value": 0.0, "max_value": 1.0}}


class ProviderUpdateSerializer(ProviderSerializer):
    class Meta(ProviderSerializer.Meta):
        read_only_fields = ["name", "updated_at"]


class ProviderViewSet(GovernedViewSet):
    queryset = Provider.objects.all()
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    permission_classes = [action_permission(read="read", write="manage_providers")]
    pagination_class = None  # a handful per org
    may_conflict = False

    def get_serializer_class(self):
        return ProviderUpdateSerializer if self.action == "partial_update" else ProviderSerializer

    def perform_create(self, serializer):
        serializer.instance = provider_create(actor=self.actor, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = provider_update(
            provider=serializer.instance, actor=self.actor, changes=serializer.validated_data
        )

    def perform_destroy(self, instance):
        provider_delete(provider=instance, actor=self.actor)
