from django.core.management.base import CommandError

from access.keys import agent_key_revoke
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = "Revoke an agent API key by its prefix (the first characters of the key)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("prefix")

    def handle(self, *args, org, prefix, **options):
        with in_organization(org):
            try:
                record = agent_key_revoke(prefix=prefix)
            except (LookupError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Revoked key {record.prefix}… of agent '{record.agent.name}'.")
        )
