from access.actors import cli_actor
from hmcp.services import specialists_retire_idle
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = (
        "Deprecate active specialists with no invocations for the hierarchy policy's "
        "retire_after_days (default 30). Run it daily (cron)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--dry-run", action="store_true", help="list, change nothing")

    def handle(self, *args, org, dry_run, **options):
        with in_organization(org):
            retired = specialists_retire_idle(
                actor=cli_actor("retire_specialists"), dry_run=dry_run
            )
        verb = "Would deprecate" if dry_run else "Deprecated"
        for specialist_id, reason in retired:
            self.stdout.write(f"{specialist_id}: {reason}")
        self.stdout.write(f"{verb} {len(retired)} specialist(s) in '{org}'.")
