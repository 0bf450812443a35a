"""Create (once) the demo organization used by `make run`, and print how to use it.

The demo admin password and agent key are kept in ``$METAQORE_DATA_DIR/demo_credentials.json``
(mode 600, git-ignored) so a second `make run` can print them again; real orgs never do this.
"""

from __future__ import annotations

import json
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from access.actors import cli_actor
from access.keys import agent_key_authenticate, agent_key_create
from access.roles import ORG_ADMIN
from access.users import role_grant, user_create, user_set_password
from metaqore_site.embedded_db import default_data_dir
from tenants.models import Organization
from tenants.services import organization_create

DEMO_SLUG = "acme"
DEMO_DOMAIN = "acme.localhost"
DEMO_USER = "admin"
DEMO_AGENT = "demo-agent"


class Command(BaseCommand):
    help = "Provision the demo org 'acme' with an org_admin user and an agent key (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.METAQORE_PORT)

    def handle(self, *args, port, **options):
        path = default_data_dir() / "demo_credentials.json"
        saved = json.loads(path.read_text()) if path.exists() else {}

        organization = Organization.objects.filter(slug=DEMO_SLUG).first()
        if organization is None:
            organization = organization_create(slug=DEMO_SLUG, name="Acme Corp", domain=DEMO_DOMAIN)
            saved = {}
        with schema_context(organization.schema_name):
            saved = self._ensure_credentials(saved)

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=2))
        os.chmod(path, 0o600)

        base = f"http://{DEMO_DOMAIN}:{port}"
        password, key = saved["password"], saved["agent_key"]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "MetaQore is starting with the demo organization 'acme'.",
                    f"  Admin:     {base}/admin/   user '{DEMO_USER}', password '{password}'",
                    f"  API docs:  {base}/api/v1/docs/",
                    f"  Agent key: {key}   (agent '{DEMO_AGENT}')",
                    "  Try:",
                    f'    curl -H "Authorization: Bearer {key}" {base}/api/v1/projects',
                    "",
                ]
            )
        )

    def _ensure_credentials(self, saved: dict) -> dict:
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USER).first()
        if user is None or not saved.get("password") or not user.check_password(saved["password"]):
            password = saved.get("password") or secrets.token_urlsafe(12)
            actor = cli_actor()
            if user is None:
                user = user_create(
                    username=DEMO_USER,
                    password=password,
                    roles=[ORG_ADMIN],
                    is_superuser=True,
                    actor=actor,
                )
            else:
                user_set_password(user=user, password=password, actor=actor)
                role_grant(user=user, role=ORG_ADMIN, actor=actor)
            saved["password"] = password
        if not saved.get("agent_key") or agent_key_authenticate(saved["agent_key"]) is None:
            saved["agent_key"] = agent_key_create(
                agent_name=DEMO_AGENT, created_by="system:demo"
            ).key
        return saved
