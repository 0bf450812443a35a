import os
import sys

from django.core.management.base import CommandError
from tqdm import tqdm

from access.actors import cli_actor
from compliance.api.filters import FilterError, audit_events_filtered
from compliance.exports import FORMATS, export_chunks, export_prepare
from compliance.management.options import add_filter_arguments, filter_params
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = (
        "Export an organization's audit trail as CSV, a JSON report or JSONL (streamed; "
        "memory stays flat). Records a compliance.exported event."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--format", required=True, choices=list(FORMATS))
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")
        add_filter_arguments(parser)

    def handle(self, *args, org, format, output, **options):
        with in_organization(org):
            try:
                queryset, given = audit_events_filtered(filter_params(options))
            except FilterError as exc:
                raise CommandError(str(exc)) from exc
            export = export_prepare(
                fmt=format, queryset=queryset, actor=cli_actor(), filters=given, via="cli"
            )
            # A bar only for a person watching a terminal, never mixed into piped data.
            show_bar = bool(output) and self.stderr.isatty()
            with tqdm(total=export.count, unit="ev", file=sys.stderr, disable=not show_bar) as bar:
                chunks = export_chunks(export, progress=bar.update)
                if output:
                    self._write_file(output, chunks)
                else:
                    for chunk in chunks:
                        self.stdout.write(chunk.decode(), ending="")
        destination = output or "stdout"
        self.stderr.write(  # stderr: stdout may be the export itself
            f"Exported {export.count} events of '{org}' to {destination}.",
            style_func=self.style.SUCCESS,
        )

    @staticmethod
    def _write_file(path: str, chunks) -> None:
        partial = f"{path}.partial"
        try:
            with open(partial, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(partial, path)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror}") from exc
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
