"""``/api/v1/internal/``: for privileged orchestrators only."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from access.permissions import action_permission
from artifacts.api.serializers import ConflictSerializer
from artifacts.models import Conflict
from artifacts.psmp import AUTO_RESOLVABLE
from governance.resolution import conflict_resolve
from governance.selectors import org_stats
from metaqore_site.api.openapi import NOT_FOUND
from metaqore_site.api.serializers import StrictCharField
from metaqore_site.api.viewsets import GovernedAPIView
from projects.models import Project

PrivilegedOnly = action_permission(read="internal", write="internal")


class AutoResolveRequest(serializers.Serializer):
    project_id = StrictCharField(max_length=32)


class InternalAutoResolveView(GovernedAPIView):
    permission_classes = [PrivilegedOnly]

    @extend_schema(
        request=AutoResolveRequest,
        responses={
            200: inline_serializer(
                "AutoResolveResult",
                {"resolved": ConflictSerializer(many=True), "count": serializers.IntegerField()},
            ),
            404: NOT_FOUND,
        },
    )
    def post(self, request):
        serializer = AutoResolveRequest(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = get_object_or_404(Project, pk=serializer.validated_data["project_id"])
        resolved = []
        with transaction.atomic():
            open_low = Conflict.objects.filter(
                project=project, status=Conflict.Status.OPEN, severity__in=AUTO_RESOLVABLE
            ).order_by("created_at")
            for conflict in open_low:
                resolved.append(
                    conflict_resolve(
                        conflict=conflict,
                        actor=self.actor,
                        strategy=Conflict.Strategy.OVERRIDE,
                        note="auto-resolved by a privileged client",
                    )
                )
        return Response(
            {"resolved": ConflictSerializer(resolved, many=True).data, "count": len(resolved)}
        )


class InternalStatsView(GovernedAPIView):
    permission_classes = [PrivilegedOnly]

    @extend_schema(
        responses=inline_serializer(
            "OrgStats",
            {
                "projects": serializers.IntegerField(),
                "artifacts_by_state": serializers.DictField(child=serializers.IntegerField()),
                "blocked_artifacts": serializers.IntegerField(),
                "open_conflicts_by_severity": serializers.DictField(
                    child=serializers.IntegerField()
                ),
                "events_last_24h": serializers.IntegerField(),
                "vetoes_by_policy": serializers.DictField(child=serializers.IntegerField()),
                "generated_at": serializers.DateTimeField(),
            },
        )
    )
    def get(self, request):
        return Response(org_stats())
