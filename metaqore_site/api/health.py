"""``GET /api/v1/health``: liveness plus a real database round trip; no auth."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metaqore_site.outage import embedded_database_revive, retry_after_seconds


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


def health_payload(organization: str | None, db_ok: bool) -> dict:
    return {
        "status": "ok" if db_ok else "error",
        "database": "ok" if db_ok else "error",
        "version": settings.VERSION,
        "organization": organization,
    }


HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.CharField(help_text="`ok` or `error`"),
        "database": serializers.CharField(help_text="`ok` or `error`"),
        "version": serializers.CharField(),
        "organization": serializers.CharField(allow_null=True),
    },
)


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: HealthSerializer,
            503: OpenApiResponse(HealthSerializer, description="The database is unreachable."),
        }
    )
    def get(self, request: Request) -> Response:
        organization = getattr(getattr(request, "tenant", None), "slug", None)
        db_ok = database_ok()
        if not db_ok:
            embedded_database_revive()
            return Response(
                health_payload(organization, db_ok),
                status=503,
                headers={"Retry-After": str(retry_after_seconds())},
            )
        return Response(health_payload(organization, db_ok))
