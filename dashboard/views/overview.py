from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from artifacts.models import Conflict
from compliance.models import AuditEvent
from dashboard.charts import daily_line_chart
from dashboard.views.base import DashboardPage
from governance.reports import blocking_artifacts, blocking_by_project, unresolved_conflicts
from governance.selectors import org_stats

CHART_DAYS = 30
BLOCKING_PROJECTS_SHOWN = 8


def _per_day(queryset, field: str, since) -> dict:
    rows = (
        queryset.filter(**{f"{field}__gte": since})
        .annotate(day=TruncDate(field))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


class OverviewView(DashboardPage):
    template_name = "dashboard/overview.html"
    nav_key = "overview"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.now().date()
        since = timezone.now() - timedelta(days=CHART_DAYS)
        stats = org_stats()
        unresolved = (
            Conflict.objects.filter(status__in=Conflict.UNRESOLVED)
            .values_list("status", "severity")
            .annotate(n=Count("id"))
            .order_by()
        )
        by_status = {"open": dict.fromkeys(Conflict.Severity.values, 0)}
        by_status["escalated"] = dict.fromkeys(Conflict.Severity.values, 0)
        for status, severity, n in unresolved:
            by_status[status][severity] = n
        start_of_day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        context.update(
            stats=stats,
            blocking=blocking_by_project(
                unresolved=unresolved_conflicts(), blocking=blocking_artifacts()
            )[:BLOCKING_PROJECTS_SHOWN],
            conflicts_by_status=by_status,
            vetoes_today=AuditEvent.objects.filter(
                event_type="routing.veto", timestamp__gte=start_of_day
            ).count(),
            chart=daily_line_chart(
                {
                    "Detected": _per_day(Conflict.objects, "created_at", since),
                    "Resolved": _per_day(
                        Conflict.objects.filter(status=Conflict.Status.RESOLVED),
                        "resolved_at",
                        since,
                    ),
                },
                days=CHART_DAYS,
                today=today,
            ),
            latest_events=AuditEvent.objects.order_by("-seq").only(
                "seq", "timestamp", "event_type", "actor", "resource_id", "project_id"
            )[:10]
            if self.can("read_audit")
            else [],
        )
        return context
