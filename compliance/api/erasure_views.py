"""Erasure API: a compliance officer requests, a different org admin approves, a job executes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from access.permissions import action_permission
from compliance.api.serializers import ErasureRequestSerializer, ErasureSerializer
from compliance.erasure import erasure_approve, erasure_request
from compliance.models import Erasure
from metaqore_site.api.viewsets import ActorMixin, PublicIdLookupMixin

CanRequestErasure = action_permission(read="read_audit", write="request_erasure")
CanApproveErasure = action_permission(read="read_audit", write="approve_erasure")


class ErasureListView(ActorMixin, generics.ListAPIView):
    queryset = Erasure.objects.order_by("-requested_at")
    serializer_class = ErasureSerializer
    permission_classes = [CanRequestErasure]

    @extend_schema(request=ErasureRequestSerializer, responses={201: ErasureSerializer})
    def post(self, request):
        given = ErasureRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        erasure = erasure_request(actor=self.actor, **given.validated_data)
        return Response(ErasureSerializer(erasure).data, status=status.HTTP_201_CREATED)


class ErasureDetailView(ActorMixin, PublicIdLookupMixin, generics.RetrieveAPIView):
    queryset = Erasure.objects.all()
    serializer_class = ErasureSerializer
    permission_classes = [CanRequestErasure]


class ErasureApproveView(ActorMixin, PublicIdLookupMixin, generics.GenericAPIView):
    queryset = Erasure.objects.all()
    serializer_class = ErasureSerializer
    permission_classes = [CanApproveErasure]

    @extend_schema(request=None, responses=ErasureSerializer)
    def post(self, request, pk):
        erasure = erasure_approve(actor=self.actor, erasure=self.get_object())
        return Response(ErasureSerializer(erasure).data)
