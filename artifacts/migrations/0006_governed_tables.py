"""Guard this app's governed tables (compliance.guards; the registry is metaqore_site.governed)."""

from django.db import migrations

from compliance.guards import govern_table


class Migration(migrations.Migration):
    dependencies = [
        ("artifacts", "0005_conflict_policy_verdict"),
        ("compliance", "0008_governed_tables"),
    ]

    operations = [
        govern_table("artifacts_artifact"),
        govern_table("governance_conflict"),
    ]
