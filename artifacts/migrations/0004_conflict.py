"""Conflicts move from governance to artifacts: same table (governance_conflict)."""

import artifacts.models
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0008_list_order_indexes'),
        ('artifacts', '0003_list_order_indexes'),
        ('projects', '0003_task_created_at_index'),
    ]

    operations = [
        # The tables exist (created by earlier migrations of another app): move the models in
        # Django's state only, keeping every table, row, index and constraint as it is.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Conflict',
                    fields=[
                        ('id', models.CharField(default=artifacts.models.new_conflict_id, editable=False, max_length=32, primary_key=True, serialize=False)),
                        ('conflict_type', models.CharField(max_length=50)),
                        ('severity', models.CharField(choices=[('low', 'Low'), ('medium', 'Medium'), ('high', 'High'), ('critical', 'Critical')], max_length=10)),
                        ('description', models.TextField()),
                        ('details', models.JSONField(blank=True, default=dict)),
                        ('hint', models.TextField(blank=True)),
                        ('suggested_strategy', models.CharField(choices=[('retry', 'Retry'), ('override', 'Override'), ('merge', 'Merge'), ('escalate', 'Escalate')], max_length=10)),
                        ('status', models.CharField(choices=[('open', 'Open'), ('escalated', 'Escalated'), ('resolved', 'Resolved')], default='open', max_length=10)),
                        ('resolution_strategy', models.CharField(blank=True, choices=[('retry', 'Retry'), ('override', 'Override'), ('merge', 'Merge'), ('escalate', 'Escalate')], max_length=10)),
                        ('resolved_by', models.CharField(blank=True, max_length=200)),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('note', models.TextField(blank=True, max_length=5000)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('artifact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='conflicts', to='artifacts.artifact')),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.project')),
                    ],
                    options={
                        'db_table': 'governance_conflict',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['project', 'status'], name='conflict_project_status'), models.Index(fields=['project', '-created_at'], name='conflict_project_newest'), models.Index(fields=['artifact', 'status'], name='conflict_artifact_status'), models.Index(fields=['status', 'severity'], name='conflict_status_severity')],
                    },
                ),
            ],
        ),
    ]
