from django.db import migrations


def create_policy(apps, schema_editor):
    GovernancePolicy = apps.get_model("governance", "GovernancePolicy")
    GovernancePolicy.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_governancepolicy_conflict")]

    operations = [migrations.RunPython(create_policy, migrations.RunPython.noop)]
