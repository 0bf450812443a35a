"""Schemathesis against a live server: every operation of ``/api/v1/schema/``, called with a
plain agent key and with an org_admin's JWT. No response may be a 5xx, and every response must
be what the schema documents (status code, content type, body).

Bounded and repeatable: a fixed number of examples per operation and generation mode, a fixed
seed, no shrinking, no example database; the server listens on loopback only.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from django.db import connection
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access.actors import SYSTEM, Actor
from access.api.auth_views import OrgTokenObtainPairSerializer
from access.keys import agent_key_create
from access.roles import ORG_ADMIN
from access.users import user_create
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from projects.services import project_create, task_create
from tests.events.live import committed_organization
from tests.processes import database_url, running_server, subprocess_env

SLUG, DOMAIN = "fuzz", "fuzz.localhost"
MAX_EXAMPLES = 10  # per operation and generation mode (positive, negative)
SEED = 20240601
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CLIENT_ERROR_LINE = re.compile(r"WARNING|^[A-Z][A-Za-z ]+: /")  # "Bad Request: /api/v1/…"
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# The credential is ours to send: no generated X-API-Key/Authorization values beside it.
CONFIG = schemathesis.Config.from_dict(
    {"seed": SEED, "generation": {"with-security-parameters": False, "database": "none"}}
)


@dataclass
class FuzzOrg:
    agent_key: str
    admin_token: str
    path_ids: dict[str, str]  # path template -> an id that exists in the org
    database_url: str


@pytest.fixture(scope="module")
def fuzz_org(django_db_setup, django_db_blocker):
    """A committed org with one of everything, so id-based operations can hit real rows."""
    with django_db_blocker.unblock(), committed_organization(SLUG) as organization:
        connection.set_tenant(organization)
        agent = Actor(kind="agent", name="fuzzer")
        project = project_create(actor=agent, name="Fuzzed")
        task = task_create(actor=agent, project=project, title="Write the cart")
        first = artifact_declare(
            actor=agent, project=project, artifact_type="code", data={"m": "cart"},
            file_paths=["src/cart.py"], requirements={"django": ">=5.2"},
        ).artifact  # fmt: skip
        second = artifact_declare(
            actor=Actor(kind="agent", name="tester"), project=project, artifact_type="test",
            data={"s": "cart"}, file_paths=["src/cart.py"], requirements={"django": "<5"},
        )  # fmt: skip
        victim = agent_key_create(agent_name="victim").record  # what the admin may revoke
        key = agent_key_create(agent_name="fuzzer").key
        admin = user_create(  # the service: the org commits, and users are governed
            username="fuzz-admin", password="pw-Fuzz-123456", roles=[ORG_ADMIN], actor=SYSTEM
        )
        token = str(OrgTokenObtainPairSerializer.get_token(admin).access_token)
        event = AuditEvent.objects.order_by("seq").first()
        path_ids = {
            "/api/v1/projects/{id}/": project.id,
            "/api/v1/tasks/{id}/": task.id,
            "/api/v1/artifacts/{id}/": first.id,
            "/api/v1/artifacts/{id}/transition/": second.artifact.id,
            "/api/v1/governance/conflicts/{id}/": second.conflicts[0].id,
            "/api/v1/governance/conflicts/{id}/resolve/": second.conflicts[-1].id,
            "/api/v1/governance/agent-keys/{id}/": str(victim.pk),
            "/api/v1/governance/agent-keys/{id}/revoke/": str(victim.pk),
            "/api/v1/governance/providers/{name}/": "ollama",
            "/api/v1/governance/compliance/audit/{id}/": event.id,
        }
        connection.set_schema_to_public()
        yield FuzzOrg(key, token, path_ids, database_url(connection.settings_dict))


@dataclass
class Live:
    base: str
    log: Path

    def errors(self) -> str:
        """The server's log without Django's one-line 4xx warnings: 5xx tracebacks."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if not CLIENT_ERROR_LINE.search(line))[-20_000:]


@pytest.fixture(scope="module")
def live(fuzz_org, tmp_path_factory):
    env = subprocess_env(
        DATABASE_URL=fuzz_org.database_url,
        METAQORE_ENABLE_RATE_LIMIT="false",
        DEBUG="false",
        METAQORE_LOG_LEVEL="ERROR",  # only server errors reach the log
    )
    log = tmp_path_factory.mktemp("schemathesis") / "server.log"
    # The production stack (gunicorn + uvicorn worker); it logs no request lines.
    with running_server(env, kind="gunicorn", log=log) as base:
        yield Live(base, log)


def fuzz_operation(operation, *, base: str, headers: dict, path_id: str | None) -> list[str]:
    """Run every mode's examples of one operation; return one line per distinct failure."""
    failures: dict[str, str] = {}
    session = requests.Session()
    for mode in MODES:
        strategy = operation.as_strategy(generation_mode=mode)
        if path_id is not None and mode is GenerationMode.POSITIVE:
            name = next(iter(operation.path_parameters)).name
            real = operation.as_strategy(generation_mode=mode, path_parameters={name: path_id})
            strategy = st.one_of(strategy, real)

        @seed(SEED)
        @settings(
            max_examples=MAX_EXAMPLES,
            phases=[Phase.explicit, Phase.generate],  # no shrinking
            database=None,
            deadline=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(case=strategy)
        def run(case):
            try:
                case.call_and_validate(
                    base_url=base, session=session, headers=headers, checks=CHECKS, timeout=30
                )
            except requests.RequestException as exc:
                failures.setdefault(f"{operation.label} [{mode.value}] no response", repr(exc))
                raise
            except FailureGroup as group:
                for failure in group.exceptions:
                    failures.setdefault(
                        f"{operation.label} [{mode.value}] {failure.title}",
                        f"{failure.message.strip()[:300]} | "
                        + case.as_curl_command(headers=headers, base_url=base)[:600],
                    )

        try:
            run()
        except requests.RequestException:
            break  # recorded; the server may be down, no point in more examples
        except Unsatisfiable:  # nothing of this operation can be made invalid (no parameters)
            assert mode is GenerationMode.NEGATIVE, operation.label
    return [f"{title}: {detail}" for title, detail in failures.items()]


# django_db: pytest-django creates the test database only for a session that has a test marked
# so; without it, running this module alone would provision the org in the development database.
@pytest.mark.e2e
@pytest.mark.django_db
@pytest.mark.parametrize("credential", ["agent_key", "org_admin_jwt"])  # agent first: the
def test_every_operation_as_documented(fuzz_org, live, credential):  # admin may revoke keys
    secret = fuzz_org.agent_key if credential == "agent_key" else fuzz_org.admin_token
    headers = {"Host": DOMAIN, "Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_url(
        f"{live.base}/api/v1/schema/?format=json",
        config=CONFIG,
        headers={"Host": DOMAIN},
        timeout=30,
    )
    started = time.monotonic()
    found: list[str] = []
    # The live-event endpoints (x-streaming) answer with a stream that never ends: their
    # behaviour is tested in tests/events (SSE and WebSocket), not by a generic fuzzer.
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if not operation.definition.raw.get("x-streaming")
    ]
    assert len(operations) > 30
    for operation in operations:
        found += fuzz_operation(
            operation,
            base=live.base,
            headers=headers,
            path_id=fuzz_org.path_ids.get(operation.path),
        )
    elapsed = time.monotonic() - started
    print(f"schemathesis ({credential}): {len(operations)} operations in {elapsed:.0f}s")
    assert not found, "\n".join([*found, "server log:", live.errors()])
