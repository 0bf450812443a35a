from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from access.actors import cli_actor
from governance.waivers import waivers_expire
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = (
        "Record in the audit trail the expiry of every waiver whose end date has passed "
        "(waiver.expired, once each). Expired waivers stop applying at their end date whether "
        "or not this runs; run it daily (cron or the job queue) so the trail says so."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--now", help="ISO 8601 time to judge expiry at (default: now)")

    def handle(self, *args, org, now=None, **options):
        when = None
        if now:
            when = parse_datetime(now)
            if when is None or when.tzinfo is None:
                raise CommandError(f"--now: '{now}' is not an ISO 8601 time with a time zone.")
        with in_organization(org):
            expired = waivers_expire(actor=cli_actor("expire_waivers"), now=when)
        for waiver_id in expired:
            self.stdout.write(waiver_id)
        self.stdout.write(
            self.style.SUCCESS(f"Recorded the expiry of {len(expired)} waiver(s) in '{org}'.")
        )
