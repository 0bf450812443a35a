"""What the queue does when an organization goes: its waiting jobs are cancelled."""

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from jobs.services import org_jobs_cancel
from tenants.models import Organization


@receiver(post_delete, sender=Organization, dispatch_uid="jobs-cancel-deleted-org-jobs")
def cancel_jobs_of_deleted_org(sender: type, instance: Organization, **kwargs: Any) -> None:
    org_jobs_cancel(org=instance.schema_name)
