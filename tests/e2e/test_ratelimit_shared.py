"""Rate limits are global: two server processes share their counters through Redis."""

import os
import uuid

import pytest
import redis
from django.db import connection

from access.keys import agent_key_create
from tests.events.live import committed_organization
from tests.processes import database_url, http, running_server, subprocess_env

REDIS_URL = os.environ.get("METAQORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test against a real Redis, but {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"no Redis server at {REDIS_URL}")


@pytest.fixture(scope="module")
def limited_org(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_organization("limits") as organization:
        connection.set_tenant(organization)
        keys = [agent_key_create(agent_name=f"looping-agent-{i}").key for i in range(2)]
        connection.set_schema_to_public()
        yield keys, database_url(connection.settings_dict)


@pytest.mark.e2e
@pytest.mark.django_db
def test_two_processes_share_one_limit(limited_org):
    redis_or_skip()
    keys, db_url = limited_org
    env = subprocess_env(
        DATABASE_URL=db_url,
        REDIS_URL=REDIS_URL,
        METAQORE_CACHE_KEY_PREFIX=f"test-{uuid.uuid4().hex}",  # counters of this test only
        # The binding window is the 5-minute one (5 requests), so the run (under a second)
        # almost never straddles a window boundary; if it does, the counters restart and the
        # sequence is run once more with another key (fresh counters).
        METAQORE_RATE_LIMIT_BURST="1000",
        METAQORE_RATE_LIMIT_PER_MINUTE="1",
    )
    with running_server(env) as first, running_server(env) as second:
        for key in keys:
            headers = {"Host": "limits.localhost", "Authorization": f"Bearer {key}"}
            statuses = [
                http("GET", f"{base}/api/v1/projects", headers=headers)[0]
                for base in [first, second] * 5
            ]
            rolled_over = 429 in statuses and 200 in statuses[statuses.index(429) :]
            if not rolled_over:
                break
    # One budget of 5 for both processes: per-process counters would have allowed all 10.
    assert statuses == [200] * 5 + [429] * 5
