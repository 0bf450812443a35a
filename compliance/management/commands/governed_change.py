"""An operator's emergency change to governed tables, audited like any other change.

    manage.py governed_change --org acme --operator alice --reason "INC-42: unblock checkout" \
        --sql "UPDATE governance_governancepolicy SET mode = 'adaptive' WHERE id = 1"

One transaction: the operator is declared as the actor (``operator:<name>``), the SQL runs in
the organization's schema, and ``governed.emergency_change`` records the statement, the reason,
the row count and every row it touched (from the governed-change journal); if anything fails,
nothing is changed. Prefer the services (dashboard, admin, API): this is for what they cannot do.
"""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from access.actors import Actor
from compliance.audit import audit_record
from compliance.models import GovernedChange
from metaqore_site.governed import governed_writes
from tenants.management.org_command import OrgCommand, in_organization

MAX_SQL = 10_000


class Command(OrgCommand):
    help = (
        "Run one SQL statement on an organization's governed tables as an operator, audited as "
        "governed.emergency_change (operator, reason, statement, rows touched)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--operator", required=True, help="who makes the change (a person)")
        parser.add_argument("--reason", required=True, help="why (ticket, incident)")
        parser.add_argument("--sql", required=True, help="one SQL statement")

    def handle(self, *args, org, operator, reason, sql, **options):
        operator, reason, sql = operator.strip(), reason.strip(), sql.strip().rstrip(";")
        if not operator or not reason or not sql:
            raise CommandError("--operator, --reason and --sql must not be empty.")
        if len(sql) > MAX_SQL or ";" in sql:
            raise CommandError(f"Give one statement (no ';'), at most {MAX_SQL} characters.")
        actor = Actor(kind="operator", name=operator)
        with in_organization(org):
            try:
                with transaction.atomic(), governed_writes(actor):
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT txid_current()")
                        (txid,) = cursor.fetchone()
                        cursor.execute(sql)
                        rowcount = cursor.rowcount
                    touched = list(
                        GovernedChange.objects.filter(txid=txid)
                        .order_by("id")
                        .values_list("operation", "table_name", "row_id")
                    )
                    event = audit_record(
                        event_type="governed.emergency_change",
                        actor=actor,
                        resource_type="governed_tables",
                        resource_id=",".join(sorted({table for _op, table, _row in touched})),
                        payload={
                            "reason": reason,
                            "sql": sql,
                            "rowcount": rowcount,
                            "changes": [
                                {"operation": op, "table": table, "row_id": row}
                                for op, table, row in touched
                            ],
                        },
                    )
            except DatabaseError as exc:
                raise CommandError(f"Nothing changed: {exc}".strip()) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Changed {len(touched)} governed row(s) in '{org}' as operator:{operator}; "
                f"audited as event #{event.seq} ({event.id})."
            )
        )
