from django.core.management.base import CommandError

from access.actors import cli_actor
from compliance.retention import RetentionError, retention_apply
from governance.models import GovernancePolicy
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = (
        "Apply an organization's audit retention now: events older than the policy's "
        "audit_retention_days (or --days) are sealed into an evidence bundle in "
        "METAQORE_ARCHIVE_DIR, then removed; verification continues from the signed boundary."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--days", type=int, help="instead of the policy's window")

    def handle(self, *args, org, days, **options):
        with in_organization(org):
            window = days or GovernancePolicy.load().audit_retention_days
            if not window:
                self.stdout.write(f"'{org}' keeps its audit trail forever (no retention set).")
                return
            try:
                done = retention_apply(days=window, actor=cli_actor())
            except (RetentionError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
        if done is None:
            self.stdout.write(f"'{org}': nothing older than {window} days to archive.")
            return
        self.stdout.write(
            f"'{org}': archived and removed {done.events_removed} events (through seq "
            f"{done.removed_through_seq}, signed checkpoint #{done.checkpoint_seq}) into "
            f"{done.archive} (sha256 {done.archive_sha256[:16]}…)."
        )
