from django.core.management.base import CommandError

from access.actors import cli_actor
from access.roles import ROLES
from access.users import UserError, user_create
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = "Create a user of an organization with one of the four roles (audited: user.created)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--superuser", action="store_true", help="also grant the org's Django admin"
        )

    def handle(self, *args, org, username, password, role, email, superuser, **options):
        with in_organization(org):
            try:
                user_create(
                    username=username,
                    password=password,
                    email=email,
                    roles=[role],
                    is_superuser=superuser,
                    actor=cli_actor(),
                )
            except UserError as exc:
                raise CommandError(f"{str(exc).rstrip('.')} in '{org}'.") from exc
        self.stdout.write(self.style.SUCCESS(f"Created user '{username}' ({role}) in '{org}'."))
