"""Erasures of personal data from the audit trail, on one page: a compliance officer requests
one, a different org admin approves it (four eyes), a job redacts the events. Everything goes
through compliance.erasure's services, which check the roles and write the audit events."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, redirect

from compliance.erasure import erasure_approve, erasure_execute_job, erasure_request
from compliance.models import Erasure
from dashboard.forms import ErasureForm
from dashboard.views.base import DashboardPage
from jobs.selectors import latest_job_states
from metaqore_site.database import tenant_connection

SHOWN = 200


def subject_summary(subject: dict) -> str:
    """What an erasure erases, as the page shows it: the value until it is executed (the
    approver must see what they approve), then only its kind and field."""
    if "actor" in subject:
        return f"every event of {subject['actor']}"
    if "field" in subject and "equals" in subject:
        return f"events whose {subject['field']} equals {subject['equals']!r}"
    if "field" in subject:
        return f"events by their {subject['field']} (value erased)"
    kind = subject.get("subject_kind", "actor")
    return f"every event of {'an' if kind == 'agent' else 'a'} {kind} (name erased)"


class ErasuresView(DashboardPage):
    template_name = "dashboard/erasures.html"
    nav_key = "erasures"
    required_action = "read_audit"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        erasures = list(Erasure.objects.order_by("-requested_at", "id")[:SHOWN])
        actor = str(self.actor)
        can_approve = self.can("approve_erasure")
        # An approved erasure waits for its job: say where the job is (a dead one needs a
        # retry from the Jobs page).
        jobs = latest_job_states(
            org=tenant_connection.schema_name,
            task_name=erasure_execute_job.name,
            argument="erasure_id",
            values=[e.id for e in erasures if e.status == Erasure.APPROVED],
        )
        context.update(
            rows=[
                {
                    "erasure": erasure,
                    "subject": subject_summary(erasure.subject),
                    "job": jobs.get(erasure.id, ""),  # approved ones only
                    # the requester never approves their own (the service refuses it too)
                    "approvable": can_approve
                    and erasure.status == Erasure.REQUESTED
                    and erasure.requested_by != actor,
                }
                for erasure in erasures
            ],
            form=kwargs.get("form") or ErasureForm(),
            can_request=self.can("request_erasure"),
            can_approve=can_approve,
            can_manage_jobs=self.can("manage_jobs"),
            job_task=erasure_execute_job.name,
        )
        return context

    def post(self, request, *args, **kwargs):
        if "approve" in request.POST:
            self.require("approve_erasure")
            erasure = get_object_or_404(Erasure, pk=request.POST["approve"][:32])
            self.governed(
                lambda: erasure_approve(actor=self.actor, erasure=erasure),
                f"Erasure {erasure.id} approved: a job redacts its events now.",
            )
            return redirect("dashboard:erasures")
        self.require("request_erasure")
        form = ErasureForm(request.POST)
        requested = form.is_valid() and self.governed_form(
            form,
            lambda: erasure_request(
                actor=self.actor,
                subject=form.cleaned_data["subject"],
                reason=form.cleaned_data["reason"],
            ),
            "Erasure requested: an org admin approves it here.",
        )
        if not requested:
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return redirect("dashboard:erasures")
