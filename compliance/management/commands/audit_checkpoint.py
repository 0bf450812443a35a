from django.core.management.base import BaseCommand, CommandError

from access.actors import cli_actor
from compliance.checkpoints import checkpoint_create, checkpoints_take_periodic
from compliance.signing import SigningKeyError
from tenants.management.org_command import in_organization


class Command(BaseCommand):
    help = (
        "Sign an organization's audit chain head now (--org; audited as "
        "compliance.checkpoint_created), or run the periodic job (--all: every org whose trail "
        "moved since its last checkpoint)."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--org", help="organization slug: sign its head now")
        target.add_argument(
            "--all", action="store_true", help="the periodic job, for every organization"
        )

    def handle(self, *args, org, all, **options):
        try:
            if org:
                with in_organization(org):
                    checkpoint = checkpoint_create(actor=cli_actor())
                self.stdout.write(self._line(org, checkpoint))
                return
            for taken in checkpoints_take_periodic():
                if taken.checkpoint is None:
                    self.stdout.write(f"{taken.org}: unchanged since its last checkpoint")
                else:
                    self.stdout.write(self._line(taken.org, taken.checkpoint))
        except SigningKeyError as exc:
            raise CommandError(str(exc)) from exc

    @staticmethod
    def _line(org: str, checkpoint) -> str:
        return (
            f"{org}: checkpoint #{checkpoint.seq} signs events 1..{checkpoint.event_count} "
            f"(head {checkpoint.head_hash[:16]}…, key {checkpoint.key_id})"
        )
