"""HMCP's models move from governance to their own app: same tables (governance_skill,
governance_hierarchypolicy, governance_specialist, governance_trainingjob). Their lifecycle
triggers are recreated under hmcp's names; governance 0009 drops the old ones."""

import django.contrib.postgres.indexes
import django.core.validators
import django.db.models.deletion
import hmcp.models
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('governance', '0008_list_order_indexes'),
        ('artifacts', '0004_conflict'),
        ('projects', '0003_task_created_at_index'),
    ]

    operations = [
        # The tables exist (created by earlier migrations of another app): move the models in
        # Django's state only, keeping every table, row, index and constraint as it is.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='HierarchyPolicy',
                    fields=[
                        ('id', models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                        ('revision', models.PositiveIntegerField(default=1, editable=False)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('updated_by', models.CharField(default='system', editable=False, max_length=200)),
                        ('chaining_depth', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(20)])),
                        ('levels', models.JSONField(help_text='{"level_1": {"name": "domain_specialist", "max_size": "200M_params", "can_spawn": true}, …}')),
                        ('spawn_min_confidence', models.FloatField(validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)])),
                        ('require_task_isolation', models.BooleanField()),
                        ('gate_functional_unit_test_min', models.FloatField(validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)])),
                        ('gate_catastrophic_forgetting_max_drop', models.FloatField(validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)])),
                        ('gate_adversarial_robustness_required', models.BooleanField()),
                        ('gate_psmp_compatibility_required', models.BooleanField()),
                        ('drift_max_drop', models.FloatField(help_text='0.05: retrain when the golden-set score drops > 5%.', validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)])),
                        ('retire_after_days', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(3650)])),
                        ('lease_minutes', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(10080)])),
                        ('discovery_min_repetitions', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(2)])),
                        ('discovery_days', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(365)])),
                    ],
                    options={
                        'verbose_name_plural': 'hierarchy policy',
                        'db_table': 'governance_hierarchypolicy',
                        'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='hierarchy_policy_singleton')],
                    },
                ),
                migrations.CreateModel(
                    name='Skill',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('skill_id', models.SlugField(max_length=64, unique=True)),
                        ('description', models.TextField(blank=True, max_length=5000)),
                        ('parent_agent', models.CharField(blank=True, max_length=200)),
                        ('max_specialist_size_mb', models.FloatField(validators=[django.core.validators.MinValueValidator(0.001)])),
                        ('allowed_teachers', models.JSONField(blank=True, default=list)),
                        ('task_patterns', models.JSONField(blank=True, default=list)),
                        ('created_by', models.CharField(default='system', editable=False, max_length=200)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'governance_skill',
                        'ordering': ['skill_id'],
                        'indexes': [django.contrib.postgres.indexes.GinIndex(fields=['task_patterns'], name='skill_task_patterns_gin')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('max_specialist_size_mb__gt', 0)), name='skill_size_positive')],
                    },
                ),
                migrations.CreateModel(
                    name='Specialist',
                    fields=[
                        ('id', models.CharField(default=hmcp.models.new_specialist_id, editable=False, max_length=32, primary_key=True, serialize=False)),
                        ('level', models.CharField(max_length=16)),
                        ('teachers', models.JSONField(blank=True, default=list)),
                        ('parameter_count', models.BigIntegerField()),
                        ('requested_size_mb', models.FloatField()),
                        ('confidence', models.FloatField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)])),
                        ('task_isolation_passed', models.BooleanField(default=False)),
                        ('created_by', models.CharField(max_length=200)),
                        ('lifecycle', models.CharField(choices=[('proposed', 'Proposed'), ('psmp_validating', 'Psmp Validating'), ('training', 'Training'), ('validation_gating', 'Validation Gating'), ('active', 'Active'), ('deprecated', 'Deprecated'), ('blocked', 'Blocked')], default='proposed', max_length=20)),
                        ('lifecycle_history', models.JSONField(blank=True, default=list)),
                        ('activation_score', models.FloatField(blank=True, null=True)),
                        ('activated_at', models.DateTimeField(blank=True, null=True)),
                        ('last_activity_at', models.DateTimeField(blank=True, null=True)),
                        ('invocations', models.BigIntegerField(default=0)),
                        ('last_avg_confidence', models.FloatField(blank=True, null=True)),
                        ('last_golden_set_score', models.FloatField(blank=True, null=True)),
                        ('drift_detected_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('artifact', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='specialist', to='artifacts.artifact')),
                        ('parent', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='children', to='hmcp.specialist')),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='specialists', to='projects.project')),
                        ('skill', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='specialists', to='hmcp.skill')),
                    ],
                    options={
                        'db_table': 'governance_specialist',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='TrainingJob',
                    fields=[
                        ('id', models.CharField(default=hmcp.models.new_training_job_id, editable=False, max_length=32, primary_key=True, serialize=False)),
                        ('purpose', models.CharField(choices=[('initial', 'Initial'), ('retraining', 'Retraining')], default='initial', max_length=12)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('claimed', 'Claimed'), ('completed', 'Completed'), ('failed', 'Failed')], default='queued', max_length=10)),
                        ('claimed_by', models.CharField(blank=True, max_length=200)),
                        ('claimed_at', models.DateTimeField(blank=True, null=True)),
                        ('lease_expires_at', models.DateTimeField(blank=True, null=True)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('metrics', models.JSONField(blank=True, default=dict)),
                        ('gate', models.JSONField(blank=True, default=dict)),
                        ('failure_reason', models.TextField(blank=True, max_length=5000)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('specialist', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='training_jobs', to='hmcp.specialist')),
                    ],
                    options={
                        'db_table': 'governance_trainingjob',
                        'ordering': ['created_at'],
                    },
                ),
                migrations.AddIndex(
                    model_name='specialist',
                    index=models.Index(fields=['skill', 'level', 'lifecycle'], name='specialist_skill_level'),
                ),
                migrations.AddIndex(
                    model_name='specialist',
                    index=models.Index(fields=['lifecycle', 'last_activity_at'], name='specialist_idle'),
                ),
                migrations.AddIndex(
                    model_name='specialist',
                    index=models.Index(fields=['project', 'lifecycle'], name='specialist_project'),
                ),
                migrations.AddConstraint(
                    model_name='specialist',
                    constraint=models.CheckConstraint(condition=models.Q(('lifecycle__in', ('proposed', 'psmp_validating', 'training', 'validation_gating', 'active', 'deprecated', 'blocked'))), name='specialist_lifecycle_valid'),
                ),
                migrations.AddConstraint(
                    model_name='specialist',
                    constraint=models.CheckConstraint(condition=models.Q(('parameter_count__gt', 0)), name='specialist_parameters_positive'),
                ),
                migrations.AddIndex(
                    model_name='trainingjob',
                    index=models.Index(fields=['status', 'created_at'], name='training_job_queue'),
                ),
                migrations.AddIndex(
                    model_name='trainingjob',
                    index=models.Index(fields=['status', 'lease_expires_at'], name='training_job_lease'),
                ),
                migrations.AddIndex(
                    model_name='trainingjob',
                    index=models.Index(fields=['specialist', 'status'], name='training_job_specialist'),
                ),
                migrations.AddConstraint(
                    model_name='trainingjob',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'claimed', 'completed', 'failed'])), name='training_job_status_valid'),
                ),
                migrations.AddConstraint(
                    model_name='trainingjob',
                    constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['queued', 'claimed'])), fields=('specialist',), name='training_job_one_open_per_specialist'),
                ),
            ],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='specialist',
            trigger=pgtrigger.compiler.Trigger(name='specialist_lifecycle_fsm', sql=pgtrigger.compiler.UpsertTriggerSql(declare='DECLARE _is_valid_transition BOOLEAN;', func='SELECT CONCAT(OLD."lifecycle", \':\', NEW."lifecycle") = ANY(\'{proposed:psmp_validating,psmp_validating:training,training:validation_gating,validation_gating:active,active:deprecated,proposed:blocked,psmp_validating:blocked,training:blocked,validation_gating:blocked,active:blocked}\'::text[]) INTO _is_valid_transition; IF (_is_valid_transition IS FALSE AND OLD."lifecycle" IS DISTINCT FROM NEW."lifecycle") THEN RAISE EXCEPTION \'pgtrigger: Invalid transition of field "lifecycle" from "%" to "%" on table %\', OLD."lifecycle", NEW."lifecycle", TG_TABLE_NAME; ELSE RETURN NEW; END IF;', hash='3e5c4e539c5864a6e8be86dc00d6282657176cd6', operation='UPDATE', pgid='pgtrigger_specialist_lifecycle_fsm_3e90b', table='governance_specialist', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='trainingjob',
            trigger=pgtrigger.compiler.Trigger(name='training_job_fsm', sql=pgtrigger.compiler.UpsertTriggerSql(declare='DECLARE _is_valid_transition BOOLEAN;', func='SELECT CONCAT(OLD."status", \':\', NEW."status") = ANY(\'{queued:claimed,claimed:queued,claimed:completed,claimed:failed,queued:failed}\'::text[]) INTO _is_valid_transition; IF (_is_valid_transition IS FALSE AND OLD."status" IS DISTINCT FROM NEW."status") THEN RAISE EXCEPTION \'pgtrigger: Invalid transition of field "status" from "%" to "%" on table %\', OLD."status", NEW."status", TG_TABLE_NAME; ELSE RETURN NEW; END IF;', hash='fc668a861b4c654b73afafa2e107638b481a9214', operation='UPDATE', pgid='pgtrigger_training_job_fsm_a36ae', table='governance_trainingjob', when='BEFORE')),
        ),
    ]
