from django import forms
from django.core.management.base import CommandError

from access.actors import cli_actor
from compliance.api.filters import ISO8601Field
from compliance.evidence import EvidenceError, evidence_prepare, evidence_write
from compliance.signing import SigningKeyError
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = (
        "Write an evidence bundle (zip: events, signed checkpoints, public keys, signed "
        "manifest) of an organization's audit trail; check it anywhere with metaqore-verify. "
        "Records a compliance.evidence_exported event."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--output", required=True, metavar="FILE.zip")
        parser.add_argument("--from", dest="since", help="events at or after (ISO 8601)")
        parser.add_argument("--to", dest="until", help="events at or before (ISO 8601)")

    def handle(self, *args, org, output, since, until, **options):
        try:
            start = ISO8601Field(required=False).clean(since)
            end = ISO8601Field(required=False).clean(until)
        except forms.ValidationError as exc:
            raise CommandError(f"--from/--to: {' '.join(exc.messages)}") from exc
        with in_organization(org):
            try:
                bundle = evidence_prepare(actor=cli_actor(), since=start, until=end, via="cli")
                evidence_write(bundle, output)
            except (EvidenceError, SigningKeyError) as exc:
                raise CommandError(str(exc)) from exc
            except OSError as exc:
                raise CommandError(f"Cannot write {output}: {exc.strerror}") from exc
        self.stdout.write(
            f"Wrote {output}: {bundle.event_count} events of '{org}' "
            f"(seq {bundle.start_count + 1}..{bundle.end_count}), "
            f"{len(bundle.checkpoints)} signed checkpoints."
        )
