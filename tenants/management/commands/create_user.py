from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db import transaction

from access.roles import ROLES
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = "Create a user of an organization with one of the four roles."

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
        User = get_user_model()
        with in_organization(org), transaction.atomic():
            if User.objects.filter(username=username).exists():
                raise CommandError(f"User '{username}' already exists in '{org}'.")
            if superuser:
                user = User.objects.create_superuser(username, email, password)
            else:
                user = User.objects.create_user(username, email, password, is_staff=True)
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)
        self.stdout.write(self.style.SUCCESS(f"Created user '{username}' ({role}) in '{org}'."))
