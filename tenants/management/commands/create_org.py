from django.core.management.base import BaseCommand, CommandError

from tenants.services import OrganizationError, organization_create


class Command(BaseCommand):
    help = "Create an organization: its schema (migrated), domain and role groups."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--domain", required=True, help="e.g. acme.localhost")

    def handle(self, *args, slug, name, domain, **options):
        try:
            organization = organization_create(slug=slug, name=name, domain=domain)
        except OrganizationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organization '{organization.slug}' "
                f"(schema {organization.schema_name}) at {domain}"
            )
        )
