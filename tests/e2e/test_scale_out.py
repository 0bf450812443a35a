"""Scale-out on one machine: two server processes share one PostgreSQL and one Redis while
8 agents declare into the same artifact line through both of them.

Checked: no duplicate (project, type, version); every parallel_creation conflict found;
rate-limit counters are global; SSE clients on either process see every event."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection

from access.keys import agent_key_create
from artifacts.models import Artifact
from tests.e2e.test_ratelimit_shared import REDIS_URL, redis_or_skip
from tests.events.live import SSEReader, committed, committed_org
from tests.processes import database_url, http, running_server, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

AGENTS = 8
DECLARATIONS_PER_AGENT = 4


@pytest.fixture(scope="module")
def org(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_org("scale-out") as live:
        connection.set_tenant(live.organization)
        keys = [agent_key_create(agent_name=f"agent-{i}").key for i in range(AGENTS)]
        watcher = agent_key_create(agent_name="watcher").key
        connection.set_schema_to_public()
        yield live, keys, watcher


def test_two_processes_eight_agents(org):
    redis_or_skip()
    live, keys, watcher = org
    env = subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict),
        REDIS_URL=REDIS_URL,
        METAQORE_CACHE_KEY_PREFIX=f"scale-{uuid.uuid4().hex}",
        METAQORE_RATE_LIMIT_BURST="1000",
        METAQORE_RATE_LIMIT_PER_MINUTE="1000",
        METAQORE_SSE_HEARTBEAT_SECONDS="1",
    )
    total = AGENTS * DECLARATIONS_PER_AGENT
    stream_path = f"/api/v1/events/stream?event_types=artifact.*&project_id={live.project_id}"
    watch = {"Host": live.domain, "Authorization": f"Bearer {watcher}"}
    with (
        running_server(env, kind="gunicorn") as first,
        running_server(env, kind="gunicorn") as second,
        SSEReader(first, stream_path, watch, timeout=30) as stream_a,
        SSEReader(second, stream_path, watch, timeout=30) as stream_b,
    ):
        assert stream_a.status == stream_b.status == 200
        servers = [first, second]
        errors: list[str] = []
        barrier = threading.Barrier(AGENTS)

        def agent(index: int) -> None:
            headers = {
                "Host": live.domain,
                "Authorization": f"Bearer {keys[index]}",
                "Content-Type": "application/json",
            }
            body = json.dumps({"project_id": live.project_id, "artifact_type": "code", "data": {}})
            barrier.wait(timeout=30)
            for n in range(DECLARATIONS_PER_AGENT):
                base = servers[(index + n) % 2]  # each agent alternates between the processes
                status, _, content = http(
                    "POST", f"{base}/api/v1/artifacts", headers=headers, body=body.encode()
                )
                if status not in (201, 409):
                    errors.append(f"{status}: {content[:200]!r}")

        threads = [threading.Thread(target=agent, args=(i,)) for i in range(AGENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors

        # Every declaration reaches the SSE clients of both processes.
        for stream in (stream_a, stream_b):
            seen = Counter(message.event for message in stream.events(total, timeout=30))
            assert seen["artifact.declared"] == total, seen

        # One budget for the watcher's key across both processes.
        remaining = [
            int(http("GET", f"{base}/api/v1/projects", headers=watch)[1]["X-RateLimit-Remaining"])
            for base in (first, second, first, second)
        ]
        assert remaining == list(range(remaining[0], remaining[0] - 4, -1)), remaining

    def stored():
        connection.set_tenant(live.organization)
        return list(
            Artifact.objects.filter(project_id=live.project_id, artifact_type="code")
            .order_by("version")
            .prefetch_related("conflicts")
        )

    artifacts = committed(stored)
    assert [a.version for a in artifacts] == list(range(1, total + 1))
    authors: set[str] = set()
    for artifact in artifacts:
        types = {c.conflict_type for c in artifact.conflicts.all()}
        assert ("parallel_creation" in types) is bool(authors - {artifact.created_by}), artifact
        authors.add(artifact.created_by)
