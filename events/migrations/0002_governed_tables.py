"""Guard this app's governed tables (compliance.guards; the registry is metaqore_site.governed)."""

from django.db import migrations

from compliance.guards import govern_table


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("compliance", "0008_governed_tables"),
    ]

    operations = [
        govern_table("compliance_webhook", bookkeeping_columns=["last_seq", "failing_since"]),
    ]
