"""Plain ORM writes of artifacts (an admin form, the shell, a command) governed exactly like an
API call: ``artifacts.apps`` routes ``Artifact.save()`` and ``delete()`` here when they did not
come through a service, and these call the services, as ``system`` unless told who."""

from __future__ import annotations

from django.db import transaction

from access.actors import SYSTEM, Actor
from artifacts.models import Artifact
from artifacts.services import (
    artifact_declare,
    artifact_delete,
    artifact_transition,
    artifact_update_draft,
)
from metaqore_site.errors import GovernanceBypassError, IllegalTransition

# Set by the declaration; a later save may not change them.
MANAGED_FIELDS = (
    "version",
    "project_id",
    "artifact_type",
    "created_by",
    "content_hash",
    "is_blocked",
)


def artifact_delete_ungoverned(instance: Artifact) -> None:
    """Govern a plain ``delete()`` (shell, command) like an API call, as ``system``."""
    artifact_delete(artifact=instance, actor=SYSTEM)


def artifact_save_ungoverned(instance: Artifact, actor: Actor = SYSTEM) -> None:
    """Govern a plain ``save()`` (admin form, shell, command) exactly like an API call."""
    if instance._state.adding:
        if instance.state != Artifact.State.DRAFT:
            raise IllegalTransition("A new artifact starts as a draft.", code="not_a_draft")
        result = artifact_declare(
            actor=actor,
            project=instance.project,
            artifact_type=instance.artifact_type,
            data=instance.data,
            version=instance.version,
            created_by=instance.created_by or None,
            depends_on=instance.depends_on,
            file_paths=instance.file_paths,
            requirements=instance.requirements,
            metadata=instance.metadata,
        )
        stored = result.artifact
        for field in ("id", "version", "created_by", "state", "is_blocked", "content_hash"):
            setattr(instance, field, getattr(stored, field))
        instance.created_at, instance.updated_at = stored.created_at, stored.updated_at
        instance.file_paths, instance.requirements = stored.file_paths, stored.requirements
        instance._state.adding = False
        instance._state.db = stored._state.db
        return

    with transaction.atomic():
        current = Artifact.objects.select_for_update().get(pk=instance.pk)
        managed = [f for f in MANAGED_FIELDS if getattr(current, f) != getattr(instance, f)]
        if managed:
            raise GovernanceBypassError(
                f"{', '.join(managed)} of an artifact cannot be changed; declare a new artifact."
            )
        changes = {
            name: getattr(instance, name)
            for name in Artifact.CONTENT_FIELDS
            if getattr(current, name) != getattr(instance, name)
        }
        if changes:
            artifact_update_draft(artifact=current, actor=actor, changes=changes)
        if instance.state != current.state:
            artifact_transition(
                artifact=current, actor=actor, to=instance.state, reason="saved outside the API"
            )
        fresh = Artifact.objects.get(pk=instance.pk)
        for field in ("state", "is_blocked", "content_hash", "updated_at"):
            setattr(instance, field, getattr(fresh, field))
