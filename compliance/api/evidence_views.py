"""Evidence API: signed checkpoints and the public keys that verify them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from access.permissions import action_permission
from compliance.api.serializers import CheckpointSerializer, PublicKeysSerializer
from compliance.audit import current_organization_slug
from compliance.checkpoints import checkpoint_create, public_keys_list
from compliance.models import AuditCheckpoint
from metaqore_site.api.pagination import StandardPagination
from metaqore_site.api.viewsets import GovernedAPIView

# Reading needs read_audit; signing a checkpoint now: org admins and auditors.
CanCheckpoint = action_permission(read="read_audit", write="take_checkpoint")


class CheckpointListView(GovernedAPIView):
    permission_classes = [CanCheckpoint]

    @extend_schema(responses=CheckpointSerializer(many=True))
    def get(self, request):
        paginator = StandardPagination()
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

    @extend_schema(responses=PublicKeysSerializer)
    def get(self, request):
        return Response(public_keys_list())
