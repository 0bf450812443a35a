"""Webhooks API (org_admin): subscriptions and their delivery log."""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from access.permissions import action_permission
from events.models import Webhook, WebhookDelivery
from events.ssrf import WebhookError
from events.webhooks import webhook_create, webhook_delete, webhook_update
from metaqore_site.api.serializers import StrictCharField, StrictModelSerializer
from metaqore_site.api.viewsets import GovernedViewSet

CanManageWebhooks = action_permission(read="manage_webhooks", write="manage_webhooks")


class WebhookSerializer(StrictModelSerializer):
    event_types = serializers.ListField(
        child=StrictCharField(max_length=100),
        max_length=20,
        required=False,
        help_text="Globs such as `artifact.*`; empty means every live event.",
    )
    secret: serializers.CharField = StrictCharField(
        max_length=200,
        min_length=16,
        required=False,
        write_only=True,
        help_text="HMAC key of `X-MetaQore-Signature`; generated (and shown once) when omitted.",
    )
    url = StrictCharField(max_length=2000)

    class Meta:
        model = Webhook
        fields = [
            "id",
            "url",
            "event_types",
            "active",
            "description",
            "secret",
            "created_by",
            "created_at",
            "updated_at",
            "last_seq",
            "failing_since",
            "disabled_at",
            "disabled_reason",
        ]
        read_only_fields = [
            "id",
            "created_by",
            "created_at",
            "updated_at",
            "last_seq",
            "failing_since",
            "disabled_at",
            "disabled_reason",
        ]


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once.")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_seq",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "responses",
        ]
        read_only_fields = fields


def _validation_error(exc: WebhookError) -> ValidationError:
    return ValidationError({exc.field: [str(exc)]})


class WebhookViewSet(GovernedViewSet):
    """Webhooks of this organization: live events POSTed to a URL, signed with the secret
    (`X-MetaQore-Signature: sha256=<HMAC-SHA256 of the body>`), retried with backoff.
    Org admins only."""

    queryset = Webhook.objects.order_by("created_at")
    serializer_class = WebhookSerializer
    permission_classes = [CanManageWebhooks]
    may_conflict = False

    @extend_schema(responses={201: WebhookCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            webhook = webhook_create(actor=self.actor, **serializer.validated_data)
        except WebhookError as exc:
            raise _validation_error(exc) from exc
        body = WebhookCreatedSerializer(webhook).data
        response = Response(body, status=status.HTTP_201_CREATED)
        add_never_cache_headers(response)  # the signing secret is shown once
        return response

    def perform_update(self, serializer):
        try:
            serializer.instance = webhook_update(
                webhook=serializer.instance, actor=self.actor, changes=serializer.validated_data
            )
        except WebhookError as exc:
            raise _validation_error(exc) from exc

    def perform_destroy(self, instance):
        webhook_delete(webhook=instance, actor=self.actor)

    @extend_schema(
        responses={200: WebhookDeliverySerializer(many=True)},
        parameters=[OpenApiParameter("status", str, enum=list(WebhookDelivery.Status.values))],
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The delivery log, newest event first (filter with `?status=pending|delivered|failed`)."""
        deliveries = self.get_object().deliveries.order_by("-event_seq")
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in WebhookDelivery.Status.values:
                raise ValidationError(
                    {"status": [f"Use one of {', '.join(WebhookDelivery.Status.values)}."]}
                )
            deliveries = deliveries.filter(status=wanted)
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
