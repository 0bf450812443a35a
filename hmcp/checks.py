"""HMCP's part in the declaration domain, plugged into artifacts' registries on import (from
HmcpConfig.ready()): a conflict check for duplicate specialists, the validation-gate rule for
activating a specialist model, and the receiver that moves a specialist with its artifact."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from access.actors import Actor
from artifacts.conflicts import Declaration, DetectedConflict, check, live_in_project
from artifacts.models import Artifact, Conflict
from artifacts.psmp import activation_blocker
from artifacts.signals import artifact_changed
from hmcp.models import Specialist, is_specialist_line
from hmcp.services import specialist_artifact_changed


@check
def duplicate_specialist(declaration: Declaration) -> list[DetectedConflict]:
    """HMCP: two non-archived specialists for the same skill and level. Specialists of one
    skill and level share the line ``specialist_model:<skill>:<level>``, so this is one probe
    of the (project, artifact_type, state) index, whoever declared the other one."""
    artifact = declaration.artifact
    if not is_specialist_line(artifact.artifact_type):
        return []
    other = (
        live_in_project(declaration)
        .filter(artifact_type=artifact.artifact_type)
        .order_by("-version")
        .values("id", "created_by", "state", "metadata")
        .first()
    )
    if other is None:
        return []
    metadata = other["metadata"] if isinstance(other["metadata"], dict) else {}
    specialist = metadata.get("specialist")
    other_specialist = specialist.get("id") if isinstance(specialist, dict) else None
    line = artifact.artifact_type.removeprefix("specialist_model:")
    return [
        DetectedConflict(
            conflict_type="duplicate_specialist",
            severity=Conflict.Severity.HIGH,
            description=(
                f"Specialist {other_specialist or other['id']} ({other['state']}, by "
                f"{other['created_by']}) already covers skill and level {line} in this project."
            ),
            suggested_strategy=Conflict.Strategy.RETRY,
            hint=(
                f"use {other_specialist or other['id']}, or deprecate it before proposing "
                f"another specialist for {line}"
            ),
            details={
                "other_artifact_id": other["id"],
                "other_specialist_id": other_specialist,
                "other_state": other["state"],
                "other_created_by": other["created_by"],
            },
        )
    ]


@activation_blocker
def specialist_activation_blockers(artifact: Artifact) -> list[str]:
    """A specialist model (HMCP) becomes active only through the validation gate, i.e. while
    its specialist is at ``validation_gating`` (inside training_job_complete)."""
    if not is_specialist_line(artifact.artifact_type):
        return []
    lifecycle = (
        Specialist.objects.filter(artifact_id=artifact.pk)
        .values_list("lifecycle", flat=True)
        .first()
    )
    if lifecycle == Specialist.Lifecycle.VALIDATION_GATING:
        return []
    return [
        f"a specialist model becomes active only through the validation gate "
        f"(its specialist is {lifecycle or 'missing'})"
    ]


@receiver(artifact_changed, dispatch_uid="hmcp-specialist-follows-artifact")
def specialist_follows_artifact(
    sender: type[Artifact], *, artifact: Artifact, actor: Actor, reason: str, **kwargs: Any
) -> None:
    """A specialist model's artifact archived or unblocked by PSMP moves its specialist too."""
    specialist_artifact_changed(artifact=artifact, actor=actor, reason=reason)
