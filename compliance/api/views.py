"""Audit trail API: list (cursor-paginated, newest first), one event, export, verify."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from compliance.api.filters import AuditEventFilter, FilterError, audit_events_filtered
from compliance.api.permissions import CanReadAudit
from compliance.api.serializers import AuditEventSerializer, VerifyResultSerializer
from compliance.exports import FORMATS, ExportError, export_chunks, export_prepare
from compliance.models import AuditEvent
from compliance.verification import verification_run
from metaqore_site.api.streaming import streaming_response
from metaqore_site.api.viewsets import ActorMixin, GovernedAPIView


class AuditEventPagination(CursorPagination):
    """Keyset pages on seq: as fast on page 10,000 as on page 1."""

    ordering = "-seq"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AuditEventListView(ActorMixin, generics.ListAPIView):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    pagination_class = AuditEventPagination
    permission_classes = [CanReadAudit]


class AuditEventDetailView(ActorMixin, generics.RetrieveAPIView):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    permission_classes = [CanReadAudit]

    def get_object(self):
        if "\x00" in self.kwargs["pk"]:  # PostgreSQL text cannot hold NUL: no such event
            raise NotFound()
        return super().get_object()


class AuditExportView(GovernedAPIView):
    permission_classes = [CanReadAudit]

    def perform_content_negotiation(self, request, force=False):
        # `?format=csv` names the export's format, not a DRF renderer: errors stay JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), default="json"),
            *[
                OpenApiParameter(name, str, description=str(f.extra.get("help_text", "")))
                for name, f in AuditEventFilter.base_filters.items()
            ],
        ],
        # One media type per format (FORMATS); errors stay JSON.
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): inline_serializer(
                "AuditExport",
                {
                    "organization": serializers.CharField(),
                    "generated_at": serializers.CharField(),
                    "report": serializers.DictField(),
                    "events": AuditEventSerializer(many=True),
                },
            ),
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request):
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise ValidationError(
                {"format": [f"Unknown format '{fmt}': use {', '.join(FORMATS)}."]}
            )
        try:
            queryset, given = audit_events_filtered(request.query_params)
            export = export_prepare(
                fmt=fmt, queryset=queryset, actor=self.actor, filters=given, via="api"
            )
        except FilterError as exc:
            raise ValidationError(exc.errors) from exc
        except ExportError as exc:
            raise ValidationError({"format": [str(exc)]}) from exc
        response = streaming_response(
            export_chunks(export),
            request=request,
            content_type=export.content_type,
            filename=export.filename,
        )
        response["X-MetaQore-Export-Count"] = str(export.count)
        return response


class AuditVerifyView(GovernedAPIView):
    """Incremental: from the newest checkpoint a passed run covered (full re-verification is a
    job: POST …/verifications)."""

    permission_classes = [CanReadAudit]

    @extend_schema(responses=VerifyResultSerializer)
    def get(self, request):
        return Response(verification_run(actor=self.actor).as_dict())
