"""Every table of an organization's schema is classified: governed (guarded, audited) or
bookkeeping with a reason (metaqore_site.governed)."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings

from metaqore_site.governed import classification, classifications


def org_models() -> list:
    labels = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}
    return [
        model
        for label in sorted(labels)
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        if not model._meta.abstract and not model._meta.proxy
    ]


def test_every_org_model_is_governed_or_bookkeeping_with_a_reason():
    missing = [model._meta.label for model in org_models() if classification(model) is None]
    assert not missing, (
        "Classify these models next to their definition (metaqore_site.governed: governed(...) "
        f"or bookkeeping(..., reason=...)): {missing}"
    )
    for model in org_models():
        entry = classification(model)
        assert entry is not None
        if entry.governed:
            assert entry.service.strip(), model
            columns = {field.column for field in model._meta.local_fields}
            assert set(entry.bookkeeping_columns) <= columns, model
        else:
            assert entry.reason.strip(), model


def test_the_issue_s_tables_are_governed():
    governed = {label for label, entry in classifications().items() if entry.governed}
    assert {
        "projects.project",
        "projects.task",
        "artifacts.artifact",
        "artifacts.conflict",
        "governance.governancepolicy",
        "governance.provider",
        "access.agentkey",
        "events.webhook",
        "hmcp.skill",
        "hmcp.hierarchypolicy",
        "hmcp.specialist",
        "hmcp.trainingjob",
        "auth.user",
        "auth.group",
        "auth.user_groups",
        "auth.user_user_permissions",
        "auth.group_permissions",
    } <= governed
