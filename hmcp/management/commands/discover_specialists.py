import json

from django.core.serializers.json import DjangoJSONEncoder

from hmcp.discovery import specialists_discover
from tenants.management.org_command import OrgCommand, in_organization


class Command(OrgCommand):
    help = (
        "List work an agent keeps repeating (tasks grouped by agent and normalized title): "
        "the candidates for a specialist. Same as GET /api/v1/specialists/discoveries."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--min-repetitions", type=int, default=None)
        parser.add_argument("--days", type=int, default=None)
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON document")

    def handle(self, *args, org, min_repetitions, days, as_json, **options):
        with in_organization(org):
            report = specialists_discover(min_repetitions=min_repetitions, days=days)
        if as_json:
            self._write_json(report)
            return
        self.stdout.write(
            f"{len(report.results)} pattern(s) repeated at least {report.min_repetitions} times "
            f"in the last {report.days} days ({report.scanned_tasks} tasks scanned"
            f"{', truncated' if report.truncated else ''})."
        )
        for group in report.results:
            skill = group.existing_skill or f"none (suggested: {group.suggested_skill_id})"
            self.stdout.write(f"{group.count:>7}  {group.agent}  {group.pattern!r}  skill: {skill}")

    def _write_json(self, report) -> None:
        body = {
            "results": [
                {
                    "agent": g.agent,
                    "pattern": g.pattern,
                    "count": g.count,
                    "examples": g.examples,
                    "existing_skill": g.existing_skill,
                    "suggested_skill_id": g.suggested_skill_id,
                    "first_seen": g.first_seen,
                    "last_seen": g.last_seen,
                }
                for g in report.results
            ],
            "since": report.since,
            "days": report.days,
            "min_repetitions": report.min_repetitions,
            "scanned_tasks": report.scanned_tasks,
            "truncated": report.truncated,
        }
        self.stdout.write(json.dumps(body, cls=DjangoJSONEncoder, indent=2))
