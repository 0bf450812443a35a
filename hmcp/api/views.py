"""HMCP endpoints under ``/api/v1/specialists/``: thin views over the services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from access.permissions import action_permission
from hmcp import registry, services, training
from hmcp.api import serializers as s
from hmcp.api.filters import SpecialistFilter, TrainingJobFilter
from hmcp.discovery import specialists_discover
from hmcp.models import HierarchyPolicy, Skill, Specialist, TrainingJob
from metaqore_site.api.viewsets import (
    GovernedAPIView,
    GovernedReadOnlyViewSet,
    GovernedViewSet,
)
from metaqore_site.errors import GovernanceRefused


class SkillViewSet(GovernedViewSet):
    queryset = Skill.objects.all()
    lookup_field = "skill_id"
    lookup_value_regex = "[a-z0-9][a-z0-9_-]*"
    permission_classes = [action_permission(read="read", write="manage_skills")]

    def get_serializer_class(self):
        return s.SkillUpdateSerializer if self.action == "partial_update" else s.SkillSerializer

    def perform_create(self, serializer):
        serializer.instance = registry.skill_create(actor=self.actor, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = registry.skill_update(
            skill=serializer.instance, actor=self.actor, changes=serializer.validated_data
        )

    def perform_destroy(self, instance):
        registry.skill_delete(skill=instance, actor=self.actor)


class SpecialistViewSet(mixins.CreateModelMixin, GovernedReadOnlyViewSet):
    queryset = Specialist.objects.select_related("skill")
    serializer_class = s.SpecialistSerializer
    filterset_class = SpecialistFilter
    lookup_value_regex = "spec_[0-9a-f]+"
    permission_classes = [action_permission(read="read", write="write_work")]

    def get_serializer_class(self):
        return {
            "create": s.ProposalSerializer,
            "transition": s.TransitionSerializer,
            "observations": s.ObservationSerializer,
        }.get(self.action, s.SpecialistSerializer)

    @extend_schema(
        request=s.ProposalSerializer,
        responses={
            201: s.ProposalResponseSerializer,
            409: OpenApiResponse(s.ProposalResponseSerializer, "PSMP blocked the declaration"),
            422: OpenApiResponse(s.ProposalRefusedSerializer, "Refused by the HMCP rules"),
        },
    )
    def create(self, request, *args, **kwargs):
        serializer = s.ProposalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.specialist_propose(
            actor=self.actor,
            project=serializer.validated_data["project_id"],
            proposal=serializer.proposal(),
            data=serializer.validated_data["data"],
            metadata=serializer.validated_data["metadata"],
        )
        if result.refused:
            reasons = [reason.as_dict() for reason in result.evaluation.reasons]
            raise GovernanceRefused(
                f"Proposal refused: {len(reasons)} rule(s) failed.",
                code="proposal_refused",
                extra={"reasons": reasons},
            )
        assert result.declaration is not None  # not refused: the specialist was declared
        request._request.governance_mode = result.declaration.mode
        blocked = result.declaration.artifact.is_blocked
        code = status.HTTP_409_CONFLICT if blocked else status.HTTP_201_CREATED
        return Response(s.proposal_body(result), status=code)

    @extend_schema(request=s.TransitionSerializer, responses={200: s.SpecialistSerializer})
    @action(detail=True, methods=["post"])
    def transition(self, request, *args, **kwargs):
        serializer = s.TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        specialist = services.specialist_transition(
            specialist=self.get_object(), actor=self.actor, **serializer.validated_data
        )
        return Response(s.SpecialistSerializer(specialist).data)

    @extend_schema(
        request=s.ObservationSerializer, responses={200: s.ObservationResponseSerializer}
    )
    @action(detail=True, methods=["post"])
    def observations(self, request, *args, **kwargs):
        serializer = s.ObservationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.specialist_observe(
            specialist=self.get_object(), actor=self.actor, **serializer.validated_data
        )
        body = s.SpecialistSerializer(result.specialist).data
        body["drift"] = result.drift
        return Response(body)


class TrainingJobViewSet(GovernedReadOnlyViewSet):
    """Reads need ``read``; claim/complete/fail need ``train_specialists`` (agent keys).
    Listing re-queues jobs whose lease expired first."""

    queryset = TrainingJob.objects.select_related("specialist__skill")
    serializer_class = s.TrainingJobSerializer
    filterset_class = TrainingJobFilter
    lookup_value_regex = "job_[0-9a-f]+"
    permission_classes = [action_permission(read="read", write="train_specialists")]

    def list(self, request, *args, **kwargs):
        training.training_jobs_requeue_expired()
        return super().list(request, *args, **kwargs)

    def get_serializer_class(self):
        return {"complete": s.CompleteSerializer, "fail": s.FailSerializer}.get(
            self.action, s.TrainingJobSerializer
        )

    def _job_id(self) -> str:
        return self.get_object().pk  # 404 for unknown ids, before any lock

    @extend_schema(request=None, responses={200: s.TrainingJobSerializer})
    @action(detail=True, methods=["post"])
    def claim(self, request, *args, **kwargs):
        job = training.training_job_claim(job_id=self._job_id(), actor=self.actor)
        return Response(s.TrainingJobSerializer(job).data)

    @extend_schema(
        request=None,
        responses={200: s.TrainingJobSerializer, 204: OpenApiResponse(description="No job")},
    )
    @action(detail=False, methods=["post"], url_path="claim-next")
    def claim_next(self, request, *args, **kwargs):
        job = training.training_job_claim_next(actor=self.actor)
        if job is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.TrainingJobSerializer(job).data)

    @extend_schema(request=s.CompleteSerializer, responses={200: s.JobResultSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, *args, **kwargs):
        serializer = s.CompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job, specialist = training.training_job_complete(
            job_id=self._job_id(), actor=self.actor, metrics=serializer.validated_data["metrics"]
        )
        return Response(self._result(job, specialist))

    @extend_schema(request=s.FailSerializer, responses={200: s.JobResultSerializer})
    @action(detail=True, methods=["post"])
    def fail(self, request, *args, **kwargs):
        serializer = s.FailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job, specialist = training.training_job_fail(
            job_id=self._job_id(), actor=self.actor, reason=serializer.validated_data["reason"]
        )
        return Response(self._result(job, specialist))

    @staticmethod
    def _result(job: TrainingJob, specialist: Specialist) -> dict:
        body = s.TrainingJobSerializer(job).data
        body["specialist"] = s.SpecialistSerializer(specialist).data
        return body


class EvaluateView(GovernedAPIView):
    """No side effects, so reading is enough."""

    permission_classes = [action_permission(read="read", write="read")]

    @extend_schema(request=s.ProposalSerializer, responses={200: s.EvaluationSerializer})
    def post(self, request):
        serializer = s.ProposalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evaluation, skill = services.specialist_evaluate(proposal=serializer.proposal())
        return Response(s.evaluation_body(evaluation, skill))


class DiscoveryView(GovernedAPIView):
    permission_classes = [action_permission(read="read")]

    @extend_schema(
        parameters=[s.DiscoveryQuerySerializer], responses={200: s.DiscoveryReportSerializer}
    )
    def get(self, request):
        query = s.DiscoveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = specialists_discover(**query.validated_data)
        body = {
            "results": [
                {
                    "agent": group.agent,
                    "pattern": group.pattern,
                    "count": group.count,
                    "examples": group.examples,
                    "existing_skill": group.existing_skill,
                    "suggested_skill_id": group.suggested_skill_id,
                    "first_seen": group.first_seen,
                    "last_seen": group.last_seen,
                }
                for group in report.results
            ],
            "since": report.since,
            "days": report.days,
            "min_repetitions": report.min_repetitions,
            "scanned_tasks": report.scanned_tasks,
            "truncated": report.truncated,
        }
        return Response(s.DiscoveryReportSerializer(body).data)


class HierarchyPolicyView(GovernedAPIView):
    permission_classes = [action_permission(read="read", write="change_policy")]
    serializer_class = s.HierarchyPolicySerializer

    def get(self, request):
        return Response(s.HierarchyPolicySerializer(HierarchyPolicy.load()).data)

    def patch(self, request):
        serializer = s.HierarchyPolicySerializer(
            HierarchyPolicy.load(), data=request.data, partial=True
        )
        serializer.is_valid(raise_exception=True)
        policy = registry.hierarchy_policy_update(
            actor=self.actor, changes=serializer.validated_data
        )
        return Response(s.HierarchyPolicySerializer(policy).data)
