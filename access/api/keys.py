"""Agent keys over the API: org_admin users list, create (shown once) and revoke keys."""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from access.keys import agent_key_create, agent_key_revoke
from access.models import AgentKey
from access.permissions import action_permission
from metaqore_site.api.serializers import LineField
from metaqore_site.api.viewsets import ActorMixin


class AgentKeySerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.name", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = AgentKey
        fields = [
            "id",
            "prefix",
            "agent",
            "is_privileged",
            "is_active",
            "created_at",
            "created_by",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields


class AgentKeyCreateSerializer(serializers.Serializer):
    agent = LineField(max_length=200)
    privileged = serializers.BooleanField(required=False, default=False)
    expires_in_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650, default=None
    )


class AgentKeyCreatedSerializer(AgentKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; only a hash is stored.")

    class Meta(AgentKeySerializer.Meta):
        fields = [*AgentKeySerializer.Meta.fields, "key"]


class AgentKeyViewSet(
    ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = AgentKey.objects.select_related("agent").order_by("-created_at")
    serializer_class = AgentKeySerializer
    permission_classes = [action_permission(read="manage_keys", write="manage_keys")]
    may_conflict = False

    @extend_schema(request=AgentKeyCreateSerializer, responses={201: AgentKeyCreatedSerializer})
    def create(self, request):
        serializer = AgentKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        new = agent_key_create(
            agent_name=data["agent"],
            privileged=data["privileged"],
            expires_in_days=data["expires_in_days"],
            created_by=str(self.actor),
            actor=self.actor,
        )
        body = AgentKeySerializer(new.record).data
        body["key"] = new.key
        response = Response(body, status=status.HTTP_201_CREATED)
        add_never_cache_headers(response)  # the key is shown once: no copy anywhere
        return response

    @extend_schema(request=None, responses={200: AgentKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        record = agent_key_revoke(prefix=self.get_object().prefix, actor=self.actor)
        return Response(AgentKeySerializer(record).data)
