"""What the decision log costs a declaration: one INSERT; the waivers are read (one SELECT)
only when a conflict was detected; nothing grows with the size of the log."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from artifacts.services import artifact_declare
from governance.models import AdmissionDecision, Waiver
from tests.governance.conftest import CODER, TESTER, rule, set_policy

DECISIONS = AdmissionDecision._meta.db_table
WAIVERS = Waiver._meta.db_table


def declare_queries(actor, project, artifact_type) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        artifact_declare(actor=actor, project=project, artifact_type=artifact_type, data={})
    return [query["sql"] for query in captured]


def touching(queries: list[str], table: str) -> list[str]:
    return [sql.split()[0].upper() for sql in queries if f'"{table}"' in sql]


def test_clean_declaration_adds_one_insert_and_reads_no_waiver(project):
    set_policy(rules=[rule("watch", "dryrun"), rule("docs", "warn", artifact_types=["docs"])])
    queries = declare_queries(CODER, project, "code")
    assert touching(queries, DECISIONS) == ["INSERT"]
    assert touching(queries, WAIVERS) == []


def test_conflicting_declaration_reads_the_waivers_once(project):
    artifact_declare(actor=CODER, project=project, artifact_type="code", data={})
    queries = declare_queries(TESTER, project, "code")
    assert touching(queries, DECISIONS) == ["INSERT"]
    assert touching(queries, WAIVERS) == ["SELECT"]


def test_cost_does_not_grow_with_the_log_or_the_rules(project):
    first = len(declare_queries(CODER, project, "first"))
    for index in range(60):
        artifact_declare(actor=CODER, project=project, artifact_type=f"line{index}", data={})
    set_policy(rules=[rule(f"r{index}", "warn", agents=[f"a{index}"]) for index in range(50)])
    assert len(declare_queries(CODER, project, "last")) == first
