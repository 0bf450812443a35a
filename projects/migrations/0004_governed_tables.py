"""Guard this app's governed tables (compliance.guards; the registry is metaqore_site.governed)."""

from django.db import migrations

from compliance.guards import govern_table


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_task_created_at_index"),
        ("compliance", "0008_governed_tables"),
    ]

    operations = [
        govern_table("projects_project"),
        govern_table("projects_task"),
    ]
