from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    """The declaration domain: artifacts and their conflicts, PSMP, the conflict checks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "artifacts"

    def ready(self) -> None:
        from artifacts import signals, ungoverned  # noqa: F401  (audit receivers)
        from artifacts.metrics import DeclarationCollector
        from artifacts.models import Artifact
        from metaqore_site.metrics import register_org_collector

        register_org_collector(DeclarationCollector())
        # A plain save()/delete() (admin form, shell, command) is governed by the services.
        Artifact.ungoverned_save = staticmethod(ungoverned.artifact_save_ungoverned)
        Artifact.ungoverned_delete = staticmethod(ungoverned.artifact_delete_ungoverned)
