from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect

from artifacts.models import Artifact, Conflict
from artifacts.psmp import AUTO_RESOLVABLE
from dashboard.diffs import content_diff
from dashboard.forms import BulkResolveForm, ResolveForm
from dashboard.views.base import DashboardPage, text_filters
from governance.resolution import conflict_resolve
from projects.models import Project

SEVERITY_ORDER = Case(
    *[When(severity=s, then=Value(rank)) for s, rank in Conflict.SEVERITY_RANK.items()],
    output_field=IntegerField(),
)
PAGE_SIZE = 50
# The queue's free-text filters: (id, name, label, placeholder)
TEXT_FILTERS = (
    ("f-type", "conflict_type", "Type", "e.g. parallel_creation"),
    ("f-agent", "agent", "Agent", "e.g. coder"),
)


def conflict_queue(params) -> tuple:
    """Open and escalated conflicts, most severe first, oldest first within a severity."""
    queryset = Conflict.objects.filter(status__in=Conflict.UNRESOLVED).select_related(
        "artifact", "project"
    )
    filters = {}
    if params.get("project"):
        filters["project"] = params["project"][:64]
        queryset = queryset.filter(project_id=filters["project"])
    if params.get("severity") in Conflict.Severity.values:
        filters["severity"] = params["severity"]
        queryset = queryset.filter(severity=filters["severity"])
    if params.get("conflict_type"):
        filters["conflict_type"] = params["conflict_type"][:50]
        queryset = queryset.filter(conflict_type=filters["conflict_type"])
    if params.get("agent"):
        agent = params["agent"][:200]
        filters["agent"] = agent
        queryset = queryset.filter(artifact__created_by=agent if ":" in agent else f"agent:{agent}")
    queryset = queryset.annotate(rank=SEVERITY_ORDER).order_by("-rank", "created_at", "id")
    return queryset, filters


class ConflictQueueView(DashboardPage):
    template_name = "dashboard/conflicts.html"
    nav_key = "conflicts"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        queryset, filters = conflict_queue(self.request.GET)
        page = Paginator(queryset, PAGE_SIZE).get_page(self.request.GET.get("page"))
        context.update(
            page=page,
            filters=filters,
            text_filters=text_filters(filters, TEXT_FILTERS),
            severities=Conflict.Severity.values,
            projects=Project.objects.order_by("name").values_list("id", "name")[:200],
            can_resolve=self.can("resolve_conflict"),
            auto_resolvable=AUTO_RESOLVABLE,
            query=self.request.GET.urlencode(),
        )
        return context

    def post(self, request, *args, **kwargs):
        if not self.can("resolve_conflict"):
            return self.handle_no_permission()
        selected = request.POST.getlist("conflict_ids")[:500]
        form = BulkResolveForm(request.POST)
        if not selected or not form.is_valid():
            messages.error(request, "Select open LOW or MEDIUM conflicts and a strategy.")
            return redirect("dashboard:conflicts")
        strategy = form.cleaned_data["bulk_strategy"]
        conflicts = list(
            Conflict.objects.filter(
                pk__in=selected, status=Conflict.Status.OPEN, severity__in=AUTO_RESOLVABLE
            )
        )
        skipped = len(set(selected)) - len(conflicts)
        if skipped:
            messages.error(
                request,
                f"{skipped} selected conflict(s) skipped: bulk resolve is for open LOW/MEDIUM.",
            )
        done = sum(
            self.governed(
                lambda c=conflict: conflict_resolve(
                    conflict=c, actor=self.actor, strategy=strategy, note="bulk resolve"
                ),
                f"{conflict.id} resolved ({strategy}).",
            )
            for conflict in conflicts
        )
        if not done:
            messages.error(request, "Nothing was resolved.")
        return redirect(f"{request.path}?{request.GET.urlencode()}")


class ConflictDetailView(DashboardPage):
    template_name = "dashboard/conflict_detail.html"
    nav_key = "conflicts"

    def get_conflict(self) -> Conflict:
        return get_object_or_404(
            Conflict.objects.select_related("artifact", "project"), pk=self.kwargs["conflict_id"]
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        conflict = self.get_conflict()
        other_id = (conflict.details or {}).get("other_artifact_id") or (
            conflict.details or {}
        ).get("dependency_id")
        other = Artifact.objects.filter(pk=other_id).first() if other_id else None
        context.update(
            conflict=conflict,
            artifact=conflict.artifact,
            other=other,
            diff=content_diff(conflict.artifact, other) if other else None,
            form=kwargs.get("form")
            or ResolveForm(initial={"strategy": conflict.suggested_strategy}),
            can_resolve=self.can("resolve_conflict") and conflict.is_unresolved,
            other_conflicts=conflict.artifact.conflicts.exclude(pk=conflict.pk).order_by(
                "-created_at"
            )[:20],
        )
        return context

    def post(self, request, *args, **kwargs):
        if not self.can("resolve_conflict"):
            return self.handle_no_permission()
        conflict = self.get_conflict()
        form = ResolveForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        ok = self.governed(
            lambda: conflict_resolve(
                conflict=conflict,
                actor=self.actor,
                strategy=form.cleaned_data["strategy"],
                note=form.cleaned_data["note"],
            ),
            f"{conflict.id} resolved with {form.cleaned_data['strategy']}.",
        )
        if ok:
            return redirect("dashboard:conflicts")
        return redirect("dashboard:conflict", conflict_id=conflict.id)
