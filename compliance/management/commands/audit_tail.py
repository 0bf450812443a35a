import time

from django.core.management.base import CommandError

from compliance.api.filters import FilterError, audit_events_filtered
from compliance.chain import canonical_json, format_timestamp
from compliance.management.options import add_filter_arguments, filter_params
from tenants.management.org_command import OrgCommand, in_organization

FOLLOW_BATCH = 500


def event_line(event) -> str:
    resource = f"{event.resource_type}:{event.resource_id}" if event.resource_type else "-"
    return (
        f"#{event.seq} {format_timestamp(event.timestamp)} {event.event_type} {event.actor} "
        f"{resource} {canonical_json(event.payload)}"
    )


class Command(OrgCommand):
    help = (
        "Print an organization's latest audit events, one per line; with --follow, keep "
        "printing new ones as they are committed (polls by seq)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("-n", "--lines", type=int, default=20, help="how many to show first")
        parser.add_argument("-f", "--follow", action="store_true")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between polls with --follow"
        )
        add_filter_arguments(parser)

    def handle(self, *args, org, lines, follow, interval, **options):
        if lines < 0 or interval <= 0:
            raise CommandError("--lines must be >= 0 and --interval > 0.")
        with in_organization(org):
            try:
                queryset, _given = audit_events_filtered(filter_params(options))
            except FilterError as exc:
                raise CommandError(str(exc)) from exc
            latest = list(queryset.order_by("-seq")[:lines])[::-1]
            for event in latest:
                self.stdout.write(event_line(event))
            if not follow:
                return
            last_seq = latest[-1].seq if latest else self._current_seq(queryset)
            self._follow(queryset, last_seq, interval)

    @staticmethod
    def _current_seq(queryset) -> int:
        newest = queryset.order_by("-seq").values_list("seq", flat=True).first()
        return newest or 0

    def _follow(self, queryset, last_seq: int, interval: float) -> None:
        # An event's seq is taken under the chain-head lock held until its transaction commits,
        # so events become visible in seq order and polling `seq > last` never skips one.
        try:
            while True:
                time.sleep(interval)
                for event in queryset.filter(seq__gt=last_seq).order_by("seq")[:FOLLOW_BATCH]:
                    self.stdout.write(event_line(event))
                    last_seq = event.seq
                self.stdout.flush()
        except KeyboardInterrupt:
            return
