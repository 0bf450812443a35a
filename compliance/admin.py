"""The audit trail in the org's admin: read-only (the database refuses changes anyway); the
one action exports the selected events as CSV, streamed, recorded as ``compliance.exported``."""

import json

from django.contrib import admin
from django.utils.html import format_html

from access.actors import actor_for_user
from compliance.chain import EVENT_FIELDS
from compliance.exports import export_chunks, export_prepare
from compliance.models import AuditEvent, Erasure
from metaqore_site.api.streaming import streaming_response

# Every stored field, the payload pretty-printed.
_FIELDS = tuple("payload_pretty" if name == "payload" else name for name in EVENT_FIELDS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "seq",
        "timestamp",
        "event_type",
        "actor",
        "resource_type",
        "resource_id",
        "project_id",
    )
    list_display_links = ("seq",)
    # Exact or prefix matches only: each one is an index scan on a table of millions.
    search_fields = ("=id", "^event_type", "=actor", "=agent_name", "=project_id", "=resource_id")
    date_hierarchy = None
    ordering = ("-seq",)
    show_full_result_count = False
    list_per_page = 50
    actions = ["export_csv"]
    fields = _FIELDS
    readonly_fields = _FIELDS

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Export selected events as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        # "Select all N" hands over the filtered changelist; otherwise the ticked rows.
        export = export_prepare(
            fmt="csv",
            queryset=queryset,
            actor=actor_for_user(request.user),
            filters={"changelist": request.GET.urlencode()[:1000]},
            via="admin",
        )
        response = streaming_response(
            export_chunks(export),
            request=request,
            content_type=export.content_type,
            filename=export.filename,
        )
        response["X-MetaQore-Export-Count"] = str(export.count)
        return response


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):
    """Erasures are requested and approved through the API (four eyes); read-only here."""

    list_display = ("id", "status", "requested_by", "approved_by", "requested_at", "executed_at")
    readonly_fields = (
        "id",
        "subject",
        "reason",
        "status",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
        "executed_at",
        "events_redacted",
    )
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
