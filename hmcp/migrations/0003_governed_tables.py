"""Guard this app's governed tables (compliance.guards; the registry is metaqore_site.governed)."""

from django.db import migrations

from compliance.guards import govern_table


class Migration(migrations.Migration):
    dependencies = [
        ("hmcp", "0002_discovery_runs"),
        ("compliance", "0008_governed_tables"),
    ]

    operations = [
        govern_table("governance_skill"),
        govern_table("governance_hierarchypolicy"),
        govern_table("governance_specialist"),
        govern_table("governance_trainingjob"),
    ]
