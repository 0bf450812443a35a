from django.db import migrations

from hmcp.defaults import policy_field_values


def create_policy(apps, schema_editor):
    # Every org starts from hmcp/defaults.json (as it reads when the org is created).
    HierarchyPolicy = apps.get_model("governance", "HierarchyPolicy")
    HierarchyPolicy.objects.get_or_create(pk=1, defaults=policy_field_values())


class Migration(migrations.Migration):
    dependencies = [("governance", "0006_specialists")]

    operations = [migrations.RunPython(create_policy, migrations.RunPython.noop)]
