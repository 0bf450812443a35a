from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect

from artifacts.api.serializers import remediation_for
from artifacts.models import Artifact
from artifacts.services import artifact_transition
from dashboard.charts import dependency_graph
from dashboard.forms import TransitionForm
from dashboard.views.base import DashboardPage
from governance.reports import blocking_report
from projects.models import Project

GRAPH_LIMIT = 150  # the newest artifacts of a project drawn in its graph
ARTIFACT_LIMIT = 300


class ProjectListView(DashboardPage):
    template_name = "dashboard/projects.html"
    nav_key = "projects"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        queryset = Project.objects.annotate(
            artifact_count=Count("artifacts"),
            blocked_count=Count("artifacts", filter=Q(artifacts__is_blocked=True)),
        ).order_by("-created_at", "-id")
        search = self.request.GET.get("search", "")[:200]
        if search:
            queryset = queryset.filter(name__icontains=search)
        context.update(
            page=Paginator(queryset, 50).get_page(self.request.GET.get("page")), search=search
        )
        return context


class ProjectDetailView(DashboardPage):
    template_name = "dashboard/project_detail.html"
    nav_key = "projects"

    def get_project(self) -> Project:
        return get_object_or_404(Project, pk=self.kwargs["project_id"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        project = self.get_project()
        report = blocking_report(project)
        artifacts = list(
            Artifact.objects.filter(project=project)
            .order_by("artifact_type", "-version")
            .values(
                "id",
                "artifact_type",
                "version",
                "state",
                "is_blocked",
                "created_by",
                "depends_on",
                "file_paths",
                "updated_at",
            )[:ARTIFACT_LIMIT]
        )
        lines: dict[str, list[dict]] = {}
        for artifact in artifacts:
            lines.setdefault(artifact["artifact_type"], []).append(artifact)
        newest = sorted(artifacts, key=lambda a: a["updated_at"], reverse=True)[:GRAPH_LIMIT]
        context.update(
            project=project,
            report=report,
            remediation=remediation_for(report["conflicts"]),
            lines=lines,
            truncated=len(artifacts) == ARTIFACT_LIMIT,
            graph=dependency_graph(newest),
            can_transition=self.can("write_work"),
        )
        return context

    def post(self, request, *args, **kwargs):
        if not self.can("write_work"):
            return self.handle_no_permission()
        project = self.get_project()
        form = TransitionForm(request.POST)
        artifact = get_object_or_404(
            Artifact, pk=request.POST.get("artifact_id", "")[:64], project=project
        )
        if form.is_valid():
            self.governed(
                lambda: artifact_transition(
                    artifact=artifact,
                    actor=self.actor,
                    to=form.cleaned_data["to"],
                    reason=form.cleaned_data["reason"] or "from the dashboard",
                ),
                f"{artifact.id} is now {form.cleaned_data['to']}.",
            )
        return redirect("dashboard:project", project_id=project.id)
