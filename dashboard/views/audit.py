from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from compliance.api.filters import FILTER_NAMES, FilterError, audit_events_filtered
from compliance.models import AuditEvent
from compliance.verification import verification_run
from dashboard.views.base import DashboardPage

PAGE_SIZE = 50
EXPORT_URL = "/api/v1/governance/compliance/export"
FILTER_LABELS = {
    "event_type": "Event type",
    "actor": "Actor",
    "agent_name": "Agent",
    "provider": "Provider",
    "task_type": "Task type",
    "project_id": "Project id",
    "resource_type": "Resource type",
    "resource_id": "Resource id",
    "since": "Since (UTC)",
    "until": "Until (UTC)",
}


class AuditTrailView(DashboardPage):
    template_name = "dashboard/audit.html"
    nav_key = "audit"
    required_action = "read_audit"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        errors = {}
        try:
            queryset, given = audit_events_filtered(params)
        except FilterError as exc:
            queryset, given, errors = AuditEvent.objects.none(), {}, exc.errors
        before = params.get("before", "")
        if before.isdigit():
            queryset = queryset.filter(seq__lt=int(before))
        # Keyset pagination on seq: the page costs the same at event 10 or 10,000,000.
        events = list(queryset.order_by("-seq")[: PAGE_SIZE + 1])
        has_next = len(events) > PAGE_SIZE
        events = events[:PAGE_SIZE]
        query = urlencode(given)
        context.update(
            events=events,
            filters=[
                {
                    "name": name,
                    "label": FILTER_LABELS.get(name, name.replace("_", " ").capitalize()),
                    "value": params.get(name, ""),
                    "errors": errors.get(name, []),
                }
                for name in FILTER_NAMES
            ],
            errors=errors,
            next_query=urlencode({**given, "before": events[-1].seq}) if has_next else None,
            first_query=query,
            exports={
                fmt: f"{EXPORT_URL}?{urlencode({'format': fmt, **given})}"
                for fmt in ("csv", "json", "jsonl")
            },
            verify=self.request.session.pop("verify_result", None),
        )
        return context


class AuditVerifyView(DashboardPage):
    required_action = "read_audit"
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        request.session["verify_result"] = verification_run(actor=self.actor).as_dict()
        # Back to the same filtered view the auditor was looking at.
        query = request.POST.get("query", "")[:2000]
        return redirect(f"{reverse('dashboard:audit')}?{query}" if query else "dashboard:audit")
