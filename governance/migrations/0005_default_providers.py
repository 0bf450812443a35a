from django.db import migrations

# Every new org starts with two local providers and one cloud provider.
DEFAULT_PROVIDERS = [
    {"name": "hmcp_gateway", "kind": "local", "priority": 10, "latency_ms": 40},
    {"name": "ollama", "kind": "local", "priority": 20, "latency_ms": 120},
    {"name": "openrouter", "kind": "cloud", "priority": 50, "latency_ms": 600},
]


def create_providers(apps, schema_editor):
    Provider = apps.get_model("governance", "Provider")
    for fields in DEFAULT_PROVIDERS:
        Provider.objects.get_or_create(name=fields["name"], defaults=fields)


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_routing")]

    operations = [migrations.RunPython(create_providers, migrations.RunPython.noop)]
