"""Agents and keys now belong to access, conflicts to artifacts, HMCP's models to hmcp (their
first migrations took them over in Django's state); the tables stay. HMCP's lifecycle triggers
are dropped here under their old names (hmcp 0001 installed them under the new ones), and the
content types follow the models, so permissions granted on them are kept."""

import pgtrigger.migrations
from django.db import migrations

MOVED = {
    "access": ("agent", "agentkey"),
    "artifacts": ("conflict",),
    "hmcp": ("skill", "hierarchypolicy", "specialist", "trainingjob"),
}


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for app_label, models in MOVED.items():
        taken = ContentType.objects.filter(app_label=app_label).values_list("model", flat=True)
        ContentType.objects.filter(app_label="governance", model__in=models).exclude(
            model__in=list(taken)
        ).update(app_label=app_label)


class Migration(migrations.Migration):

    dependencies = [
        ("governance", "0008_list_order_indexes"),
        ("access", "0001_initial"),
        ("artifacts", "0004_conflict"),
        ("hmcp", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(model_name="specialist", name="specialist_lifecycle_fsm"),
        pgtrigger.migrations.RemoveTrigger(model_name="trainingjob", name="training_job_fsm"),
        # RemoveTrigger drops the triggers but leaves their functions behind.
        migrations.RunSQL(
            "DROP FUNCTION IF EXISTS pgtrigger_specialist_lifecycle_fsm_02717();"
            "DROP FUNCTION IF EXISTS pgtrigger_training_job_fsm_59649();",
            migrations.RunSQL.noop,
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.RemoveField(
                model_name='agentkey',
                name='agent',
            ),
            migrations.RemoveField(
                model_name='conflict',
                name='artifact',
            ),
            migrations.RemoveField(
                model_name='conflict',
                name='project',
            ),
            migrations.DeleteModel(
                name='HierarchyPolicy',
            ),
            migrations.RemoveField(
                model_name='specialist',
                name='skill',
            ),
            migrations.RemoveField(
                model_name='specialist',
                name='artifact',
            ),
            migrations.RemoveField(
                model_name='specialist',
                name='parent',
            ),
            migrations.RemoveField(
                model_name='specialist',
                name='project',
            ),
            migrations.RemoveField(
                model_name='trainingjob',
                name='specialist',
            ),
            migrations.DeleteModel(
                name='Agent',
            ),
            migrations.DeleteModel(
                name='AgentKey',
            ),
            migrations.DeleteModel(
                name='Conflict',
            ),
            migrations.DeleteModel(
                name='Skill',
            ),
            migrations.DeleteModel(
                name='Specialist',
            ),
            migrations.DeleteModel(
                name='TrainingJob',
            ),
            ],
        ),
        # Not moved back on a rollback: post_migrate recreates what a rolled-back state needs.
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
