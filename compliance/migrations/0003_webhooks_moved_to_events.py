"""Webhooks and their deliveries now belong to the events app (events 0001 took them over in
Django's state); the tables stay. Their content types follow them, so permissions granted on
them are kept."""

from django.db import migrations

MOVED = ("webhook", "webhookdelivery")


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(ContentType.objects.filter(app_label="events").values_list("model", flat=True))
    ContentType.objects.filter(app_label="compliance", model__in=MOVED).exclude(
        model__in=taken
    ).update(app_label="events")


class Migration(migrations.Migration):

    dependencies = [
        ("compliance", "0002_webhooks_live_events"),
        ("events", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.RemoveField(
                model_name='webhookdelivery',
                name='webhook',
            ),
            migrations.DeleteModel(
                name='Webhook',
            ),
            migrations.DeleteModel(
                name='WebhookDelivery',
            ),
            ],
        ),
        # Not moved back on a rollback: post_migrate recreates what a rolled-back state needs.
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
