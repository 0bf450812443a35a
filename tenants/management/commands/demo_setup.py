"""Create (once) the demo organization used by `make run`, with the README's cast, and print
how to use it.

The cast: the org admin ``admin``, the compliance officer ``olivia``, and the agents
``demo-agent`` and ``tester`` with one key each. Their passwords and keys are kept in
``$METAQORE_DATA_DIR/demo_credentials.json`` and, for the README's walkthrough, as shell
variables in ``$METAQORE_DATA_DIR/demo.env`` (both mode 600, git-ignored), so a second
`make run` prints them again; real orgs never do this.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from access.actors import cli_actor
from access.keys import agent_key_authenticate, agent_key_create
from access.roles import COMPLIANCE_OFFICER, ORG_ADMIN
from access.users import role_grant, user_create, user_set_password
from metaqore_site.embedded_db import default_data_dir
from tenants.models import Organization
from tenants.services import organization_create

DEMO_SLUG = "acme"
DEMO_DOMAIN = "acme.localhost"
# username: (role, superuser, key of its password in the credentials file)
DEMO_USERS = {
    "admin": (ORG_ADMIN, True, "password"),
    "olivia": (COMPLIANCE_OFFICER, False, "olivia_password"),
}
# agent: key of its API key in the credentials file
DEMO_AGENTS = {"demo-agent": "agent_key", "tester": "tester_key"}
DEMO_USER, DEMO_AGENT = "admin", "demo-agent"

# Shell helper of demo.env: print the JSON body read on stdin (on stderr, so you see it) and
# echo one field of it (``field id``, ``field governance.conflicts.0.id``) for $(...).
FIELD_FUNCTION = r"""field() {
  python3 -c 'import json, sys
body = sys.stdin.read()
print(body, file=sys.stderr)
value = json.loads(body)
for part in sys.argv[1].split("."):
    value = value[int(part)] if part.isdigit() else value[part]
print(value)' "$1"
}"""


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)


def demo_env(saved: dict, base: str) -> str:
    """The walkthrough's variables, ready for ``source .data/demo.env``."""
    values = {
        "API": f"{base}/api/v1",
        "KEY": saved["agent_key"],
        "TESTER_KEY": saved["tester_key"],
        "ADMIN_PASSWORD": saved["password"],
        "OLIVIA_PASSWORD": saved["olivia_password"],
    }
    lines = ["# MetaQore demo org 'acme' (written by manage.py demo_setup; keep it private)"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join([*lines, FIELD_FUNCTION, ""])


class Command(BaseCommand):
    help = (
        "Provision the demo org 'acme' (idempotent): org admin 'admin', compliance officer "
        "'olivia', agent keys for 'demo-agent' and 'tester'; write demo_credentials.json and "
        "demo.env to the data dir."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.METAQORE_PORT)

    def handle(self, *args, port, **options):
        data_dir = default_data_dir()
        path = data_dir / "demo_credentials.json"
        saved = json.loads(path.read_text()) if path.exists() else {}

        organization = Organization.objects.filter(slug=DEMO_SLUG).first()
        if organization is None:
            organization = organization_create(slug=DEMO_SLUG, name="Acme Corp", domain=DEMO_DOMAIN)
            saved = {}
        with schema_context(organization.schema_name):
            saved = self._ensure_cast(saved)

        base = f"http://{DEMO_DOMAIN}:{port}"
        write_private(path, json.dumps(saved, indent=2))
        write_private(data_dir / "demo.env", demo_env(saved, base))
        key = saved["agent_key"]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    self.style.SUCCESS("MetaQore is starting with the demo organization 'acme'."),
                    f"  Dashboard: {base}/dashboard/",
                    f"  Admin:     {base}/admin/   user 'admin', password '{saved['password']}'",
                    f"  Officer:   user 'olivia' (compliance officer), password "
                    f"'{saved['olivia_password']}'",
                    f"  API docs:  {base}/api/v1/docs/",
                    f"  Agent key: {key}   (agent '{DEMO_AGENT}')",
                    f"  Tester:    {saved['tester_key']}   (agent 'tester')",
                    f"  The README's walkthrough: source {data_dir / 'demo.env'}",
                    "  Try:",
                    f'    curl -H "Authorization: Bearer {key}" {base}/api/v1/projects',
                    "",
                ]
            )
        )

    def _ensure_cast(self, saved: dict) -> dict:
        User = get_user_model()
        actor = cli_actor()
        for username, (role, superuser, field) in DEMO_USERS.items():
            user = User.objects.filter(username=username).first()
            password = saved.get(field)
            if user is not None and password and user.check_password(password):
                continue
            password = password or secrets.token_urlsafe(12)
            if user is None:
                user_create(
                    username=username,
                    password=password,
                    roles=[role],
                    is_superuser=superuser,
                    actor=actor,
                )
            else:
                user_set_password(user=user, password=password, actor=actor)
                role_grant(user=user, role=role, actor=actor)
            saved[field] = password
        for agent, field in DEMO_AGENTS.items():
            if not saved.get(field) or agent_key_authenticate(saved[field]) is None:
                saved[field] = agent_key_create(agent_name=agent, created_by="system:demo").key
        return saved
