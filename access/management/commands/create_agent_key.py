from django.core.management.base import CommandError

from access.keys import agent_key_create
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = "Create an API key for an agent; the key is printed once, as the last line."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--agent", required=True)
        parser.add_argument("--privileged", action="store_true")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, org, agent, privileged, expires_in_days, **options):
        with in_organization(org):
            try:
                new = agent_key_create(
                    agent_name=agent,
                    privileged=privileged,
                    expires_in_days=expires_in_days,
                    created_by="system:cli",
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        kind = "privileged " if privileged else ""
        # Messages on stderr, so `KEY=$(manage.py create_agent_key …)` captures the key alone.
        self.stderr.write(
            f"Created {kind}key {new.record.prefix}… for agent '{agent}' in '{org}'.",
            style_func=self.style.SUCCESS,
        )
        self.stderr.write("Store it now: it is not shown again.", style_func=self.style.WARNING)
        self.stdout.write(new.key)
