"""Webhooks and their deliveries move from compliance to events: same tables
(compliance_webhook, compliance_webhookdelivery)."""

import django.db.models.deletion
import events.models
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('compliance', '0002_webhooks_live_events'),
    ]

    operations = [
        # The tables exist (created by earlier migrations of another app): move the models in
        # Django's state only, keeping every table, row, index and constraint as it is.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Webhook',
                    fields=[
                        ('id', models.CharField(default=events.models.new_webhook_id, editable=False, max_length=32, primary_key=True, serialize=False)),
                        ('url', models.URLField(max_length=2000)),
                        ('secret', models.CharField(max_length=200)),
                        ('event_types', models.JSONField(blank=True, default=list)),
                        ('active', models.BooleanField(default=True)),
                        ('description', models.CharField(blank=True, max_length=200)),
                        ('created_by', models.CharField(blank=True, max_length=220)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('last_seq', models.BigIntegerField(default=0)),
                        ('failing_since', models.DateTimeField(blank=True, null=True)),
                        ('disabled_at', models.DateTimeField(blank=True, null=True)),
                        ('disabled_reason', models.CharField(blank=True, max_length=300)),
                    ],
                    options={
                        'db_table': 'compliance_webhook',
                        'ordering': ['created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.CharField(default=events.models.new_delivery_id, editable=False, max_length=32, primary_key=True, serialize=False)),
                        ('event_seq', models.BigIntegerField()),
                        ('event_id', models.CharField(max_length=32)),
                        ('event_type', models.CharField(max_length=100)),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=10)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('last_error', models.CharField(blank=True, max_length=500)),
                        ('responses', models.JSONField(blank=True, default=list)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('webhook', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='events.webhook')),
                    ],
                    options={
                        'db_table': 'compliance_webhookdelivery',
                        'ordering': ['-event_seq'],
                        'indexes': [models.Index(fields=['webhook', 'status', 'event_seq'], name='webhook_delivery_queue')],
                        'constraints': [models.UniqueConstraint(fields=('webhook', 'event_seq'), name='webhook_delivery_once')],
                    },
                ),
            ],
        ),
    ]
