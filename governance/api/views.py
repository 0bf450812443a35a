from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from access.permissions import action_permission
from artifacts.api.serializers import ConflictSerializer, RemediationSerializer, remediation_for
from artifacts.models import Conflict
from governance import policy as policy_service
from governance.api.filters import ConflictFilter
from governance.api.serializers import ConflictResolveSerializer, GovernancePolicySerializer
from governance.models import GovernancePolicy
from governance.reports import (
    REPORT_CONFLICTS_DEFAULT,
    REPORT_CONFLICTS_MAX,
    blocking_report,
    blocking_report_org,
)
from governance.resolution import conflict_resolve
from metaqore_site.api.fields import PublicIdField
from metaqore_site.api.openapi import NOT_FOUND
from metaqore_site.api.viewsets import GovernedAPIView, GovernedReadOnlyViewSet
from projects.models import Project


class ConflictViewSet(GovernedReadOnlyViewSet):
    queryset = Conflict.objects.all()
    serializer_class = ConflictSerializer
    filterset_class = ConflictFilter
    permission_classes = [action_permission(read="read", write="resolve_conflict")]

    @extend_schema(request=ConflictResolveSerializer, responses={200: ConflictSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, *args, **kwargs):
        serializer = ConflictResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conflict = conflict_resolve(
            conflict=self.get_object(), actor=self.actor, **serializer.validated_data
        )
        return Response(ConflictSerializer(conflict).data)


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The revision your change is based on (e.g. `4`): if another revision was "
    "saved meanwhile, the change is refused with 409 `stale_revision` instead of overwriting it.",
)


def expected_revision(request) -> int | None:
    value = request.headers.get("If-Match", "").strip().strip('"').removeprefix("W/").strip('"')
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise ValidationError({"If-Match": ["A policy revision number, e.g. 4."]})
    return int(value)


class GovernancePolicyView(GovernedAPIView):
    permission_classes = [action_permission(read="read", write="change_policy")]
    serializer_class = GovernancePolicySerializer

    def get(self, request):
        return Response(GovernancePolicySerializer(GovernancePolicy.load()).data)

    @extend_schema(parameters=[IF_MATCH])
    def patch(self, request):
        serializer = GovernancePolicySerializer(
            GovernancePolicy.load(), data=request.data, partial=True
        )
        serializer.is_valid(raise_exception=True)
        policy = policy_service.policy_update(
            actor=self.actor,
            changes=serializer.validated_data,
            expected_revision=expected_revision(request),
        )
        request._request.governance_mode = policy.mode
        return Response(GovernancePolicySerializer(policy).data)


class BlockingReportQuery(serializers.Serializer):
    project_id = PublicIdField(
        required=False,
        help_text="One project; leave it out for the whole organization (with by_project).",
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=REPORT_CONFLICTS_MAX,
        default=REPORT_CONFLICTS_DEFAULT,
        help_text="How many of the most recent unresolved conflicts to include.",
    )


class BlockingReportView(GovernedAPIView):
    permission_classes = [action_permission(read="read")]

    @extend_schema(
        parameters=[BlockingReportQuery],
        responses={
            200: inline_serializer(
                "BlockingReport",
                {
                    "project_id": serializers.CharField(allow_null=True),
                    "blocked_artifacts": serializers.ListField(child=serializers.CharField()),
                    "conflicts": ConflictSerializer(many=True),
                    "conflicts_total": serializers.IntegerField(
                        help_text="All unresolved conflicts (``conflicts`` holds ``limit``)."
                    ),
                    "remediation": RemediationSerializer(many=True),
                    "counts": serializers.DictField(child=serializers.IntegerField()),
                    "by_project": inline_serializer(
                        "BlockingReportProject",
                        {
                            "project_id": serializers.CharField(),
                            "name": serializers.CharField(),
                            "blocked": serializers.IntegerField(),
                            "counts": serializers.DictField(child=serializers.IntegerField()),
                        },
                        many=True,
                        required=False,
                        help_text="Org-wide report only: each project with something blocked "
                        "or unresolved, the most blocked first (at most 1,000).",
                    ),
                    "projects_total": serializers.IntegerField(
                        required=False, help_text="Org-wide report only."
                    ),
                    "generated_at": serializers.DateTimeField(),
                },
            ),
            404: NOT_FOUND,
        },
    )
    def get(self, request):
        query = BlockingReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        if "project_id" in query.validated_data:
            project = get_object_or_404(Project, pk=query.validated_data["project_id"])
            report = blocking_report(project, limit=limit)
        else:
            report = blocking_report_org(limit=limit)
        report["remediation"] = remediation_for(report["conflicts"])
        report["conflicts"] = ConflictSerializer(report["conflicts"], many=True).data
        return Response(report)
