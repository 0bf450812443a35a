from django.core.management.base import CommandError

from access.actors import cli_actor
from compliance.chain import VerifyResult, jsonl_chain_verify
from compliance.models import AuditEvent
from compliance.verification import VerificationReport, verification_run
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = (
        "Recompute an organization's audit hash chain and check its signed checkpoints (a "
        "full verification from the genesis or the retention boundary), or verify a JSONL "
        "export. Exit 0 when intact, 1 naming the first bad seq."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--from-file",
            metavar="EXPORT.jsonl",
            help="verify a JSONL export instead of the database (its last event must also "
            "match the database)",
        )

    def handle(self, *args, org, from_file, **options):
        result: VerifyResult | VerificationReport
        with in_organization(org):
            if from_file:
                try:
                    with open(from_file, encoding="utf-8") as lines:
                        result = jsonl_chain_verify(lines)
                except OSError as exc:
                    raise CommandError(f"Cannot read {from_file}: {exc.strerror}") from exc
                except UnicodeDecodeError as exc:
                    raise CommandError(f"{from_file} is not UTF-8 text.") from exc
                if result.ok and result.last_seq:
                    stored = (
                        AuditEvent.objects.filter(seq=result.last_seq)
                        .values_list("hash", flat=True)
                        .first()
                    )
                    if stored != result.head_hash:
                        raise CommandError(
                            f"The file is internally consistent but its seq {result.last_seq} "
                            f"does not match the database of '{org}'."
                        )
                source = from_file
            else:
                result = verification_run(kind="full", actor=cli_actor())
                source = (
                    f"the database of '{org}' with {result.checkpoints_checked} signed checkpoints"
                )
        if result.unaudited_changes:
            for change in result.unaudited_changes:
                self.stderr.write(
                    f"unaudited: {change['operation']} {change['table']} row {change['row_id']} "
                    f"txid {change['txid']} at {change['at']}"
                    + (f" (declared actor {change['actor']})" if change["actor"] else "")
                )
        if not result.ok and result.first_bad_seq is None:
            raise CommandError(f"{result.reason} ({result.events_checked} events verified).")
        if not result.ok:
            raise CommandError(
                f"Audit chain broken at seq {result.first_bad_seq}: {result.reason} "
                f"({result.events_checked} events read from {source})."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {result.events_checked} events verified in {source}; "
                f"head {result.head_hash or '(empty)'}"
            )
        )
