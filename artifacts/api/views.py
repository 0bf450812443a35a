from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from access.permissions import action_permission
from artifacts import services
from artifacts.api.filters import ArtifactFilter
from artifacts.api.serializers import (
    ArtifactSerializer,
    ArtifactTransitionSerializer,
    ArtifactUpdateSerializer,
    DeclarationResponseSerializer,
    declaration_body,
)
from artifacts.models import Artifact
from metaqore_site.api.viewsets import GovernedViewSet


class ArtifactViewSet(GovernedViewSet):
    # The id breaks ties between rows created in the same microsecond: pages never overlap.
    queryset = Artifact.objects.order_by("-created_at", "-id")
    serializer_class = ArtifactSerializer
    filterset_class = ArtifactFilter
    permission_classes = [action_permission(read="read", write="write_work")]

    def get_serializer_class(self):
        if self.action == "partial_update":
            return ArtifactUpdateSerializer
        if self.action == "transition":
            return ArtifactTransitionSerializer
        return ArtifactSerializer

    @extend_schema(
        responses={
            201: DeclarationResponseSerializer,
            409: OpenApiResponse(DeclarationResponseSerializer, description="Blocked"),
        }
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.artifact_declare(actor=self.actor, **serializer.validated_data)
        request._request.governance_mode = result.mode
        code = status.HTTP_409_CONFLICT if result.outcome == "blocked" else status.HTTP_201_CREATED
        return Response(declaration_body(result), status=code)

    @extend_schema(
        responses={
            200: DeclarationResponseSerializer,
            409: OpenApiResponse(DeclarationResponseSerializer, description="Blocked"),
        }
    )
    def partial_update(self, request, *args, **kwargs):
        artifact = self.get_object()
        serializer = self.get_serializer(artifact, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        result = services.artifact_update_draft(
            artifact=artifact, actor=self.actor, changes=serializer.validated_data
        )
        request._request.governance_mode = result.mode
        # The same answer as a blocked POST: an agent that checks status codes sees the block.
        code = status.HTTP_409_CONFLICT if result.outcome == "blocked" else status.HTTP_200_OK
        return Response(declaration_body(result), status=code)

    def perform_destroy(self, instance):
        services.artifact_delete(artifact=instance, actor=self.actor)

    @extend_schema(request=ArtifactTransitionSerializer, responses={200: ArtifactSerializer})
    @action(detail=True, methods=["post"])
    def transition(self, request, *args, **kwargs):
        serializer = ArtifactTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artifact = services.artifact_transition(
            artifact=self.get_object(), actor=self.actor, **serializer.validated_data
        )
        return Response(ArtifactSerializer(artifact).data)
