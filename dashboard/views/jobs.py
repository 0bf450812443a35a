"""Jobs (org admins, ``manage_jobs``): the organization's background jobs by task and state
(queued, retrying, running, succeeded, dead), the latest ones, and retry of a dead job."""

from __future__ import annotations

from django.shortcuts import redirect

from dashboard.views.base import DashboardPage
from jobs.selectors import STATES, org_job_counts, org_jobs
from jobs.services import job_retry
from metaqore_site.database import tenant_connection

JOBS_SHOWN = 100


class JobsView(DashboardPage):
    template_name = "dashboard/jobs.html"
    nav_key = "jobs"
    required_action = "manage_jobs"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        org = tenant_connection.schema_name
        state = self.request.GET.get("state", "")
        state = state if state in STATES else ""
        counts = org_job_counts(org=org)
        task_names = [row.task_name for row in counts]
        task = self.request.GET.get("task", "")
        task = task if task in task_names else ""
        context.update(
            states=STATES,
            counts=counts,
            jobs=org_jobs(org=org, state=state or None, task_name=task or None, limit=JOBS_SHOWN),
            state=state,
            task=task,
            task_names=task_names,
        )
        return context

    def post(self, request, *args, **kwargs):
        try:
            job_id = int(request.POST.get("retry", ""))
        except ValueError:
            job_id = 0
        self.governed(
            lambda: job_retry(
                job_id=job_id, org=tenant_connection.schema_name, actor=str(self.actor)
            ),
            f"Job {job_id} queued again.",
        )
        return redirect(request.get_full_path())
