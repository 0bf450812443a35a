"""Evidence API: signed checkpoints, the public keys that verify them, evidence bundles."""

from __future__ import annotations

from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from access.permissions import action_permission
from compliance.api.filters import ISO8601Field
from compliance.api.permissions import CanReadAudit
from compliance.api.serializers import (
    CheckpointSerializer,
    PublicKeysSerializer,
    VerificationSerializer,
)
from compliance.audit import current_organization_slug
from compliance.checkpoints import checkpoint_create, public_keys_list
from compliance.evidence import CONTENT_TYPE, evidence_chunks, evidence_prepare
from compliance.models import AuditCheckpoint, AuditVerification
from compliance.verification import verification_request
from metaqore_site.api.pagination import StandardPagination
from metaqore_site.api.streaming import streaming_response
from metaqore_site.api.viewsets import ActorMixin, GovernedAPIView, PublicIdLookupMixin

# Reading needs read_audit; signing a checkpoint now: org admins and auditors.
CanCheckpoint = action_permission(read="read_audit", write="take_checkpoint")


class CheckpointListView(GovernedAPIView):
    permission_classes = [CanCheckpoint]
    pagination_class = StandardPagination  # read by the schema generator: the list is paged

    @extend_schema(responses=CheckpointSerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            AuditCheckpoint.objects.order_by("-seq"), request, view=self
        )
        context = {"org": current_organization_slug()}
        return paginator.get_paginated_response(
            CheckpointSerializer(page, many=True, context=context).data
        )

    @extend_schema(request=None, responses={201: CheckpointSerializer})
    def post(self, request):
        checkpoint = checkpoint_create(actor=self.actor)
        context = {"org": current_organization_slug()}
        return Response(
            CheckpointSerializer(checkpoint, context=context).data, status=status.HTTP_201_CREATED
        )


class PublicKeysView(GovernedAPIView):
    """The Ed25519 public keys of this org's checkpoints: public, no credential needed."""

    permission_classes = [AllowAny]

    @extend_schema(auth=[], responses=PublicKeysSerializer)
    def get(self, request):
        return Response(public_keys_list())


def _moment(request, name: str, errors: dict):
    try:
        return ISO8601Field(required=False).clean(request.query_params.get(name))
    except forms.ValidationError as exc:
        errors[name] = exc.messages
        return None


class EvidenceView(GovernedAPIView):
    """A zip of the events from..to (widened to signed checkpoints on both sides), their
    checkpoints, the public keys and a signed manifest: check it with ``metaqore-verify``."""

    permission_classes = [CanReadAudit]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="events at or after (ISO 8601)"),
            OpenApiParameter("to", str, description="events at or before (ISO 8601)"),
        ],
        responses={(200, CONTENT_TYPE): OpenApiTypes.BINARY},
    )
    def get(self, request):
        errors: dict = {}
        since, until = _moment(request, "from", errors), _moment(request, "to", errors)
        if since and until and since > until:
            errors["to"] = ["Must not be before 'from'."]
        if errors:
            raise ValidationError(errors)
        bundle = evidence_prepare(actor=self.actor, since=since, until=until)
        response = streaming_response(
            evidence_chunks(bundle),
            request=request,
            content_type=CONTENT_TYPE,
            filename=bundle.filename,
        )
        response["X-MetaQore-Evidence-Events"] = str(bundle.event_count)
        return response


class VerificationListView(ActorMixin, generics.ListAPIView):
    """Runs of the verification; POST queues a full one (a job: watch its progress here)."""

    queryset = AuditVerification.objects.order_by("-requested_at")
    serializer_class = VerificationSerializer
    permission_classes = [CanReadAudit]

    @extend_schema(request=None, responses={202: VerificationSerializer})
    def post(self, request):
        run = verification_request(actor=self.actor)
        return Response(VerificationSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class VerificationDetailView(ActorMixin, PublicIdLookupMixin, generics.RetrieveAPIView):
    queryset = AuditVerification.objects.all()
    serializer_class = VerificationSerializer
    permission_classes = [CanReadAudit]
