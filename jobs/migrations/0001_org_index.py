from django.db import migrations


class Migration(migrations.Migration):
    """An index for the per-org views of the queue (the dashboard's Jobs page, metrics):
    every org job carries its schema in ``args->>'org'``. Public schema only (SHARED_APPS)."""

    dependencies = [("procrastinate", "0041_post_retry_failed_job")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS procrastinate_jobs_org_status "
            "ON procrastinate_jobs ((args->>'org'), status, id)",
            "DROP INDEX IF EXISTS procrastinate_jobs_org_status",
        )
    ]
