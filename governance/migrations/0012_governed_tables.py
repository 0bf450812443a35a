"""Guard this app's governed tables (compliance.guards; the registry is metaqore_site.governed)."""

from django.db import migrations

from compliance.guards import govern_table


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0011_audit_retention_days"),
        ("compliance", "0008_governed_tables"),
    ]

    operations = [
        govern_table("governance_governancepolicy"),
        govern_table("governance_provider"),
        govern_table("governance_policyrevision", pk="number"),
        govern_table(
            "governance_waiver",
            bookkeeping_columns=["use_count", "last_used_at", "expiry_recorded"],
        ),
        govern_table("governance_admissiondecision"),
    ]
