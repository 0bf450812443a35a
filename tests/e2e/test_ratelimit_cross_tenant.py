"""One organization cannot exhaust another's rate limit (issue #18, defect 2), against the
production stack: gunicorn with a uvicorn worker, counters in a real Redis.

Reproduced first: 250 requests to alpha's API with a *beta* viewer's JWT answered 239 x 401,
then 429, and alpha's own viewer (the same user id in alpha) then got 429 as well.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from access.roles import VIEWER
from access.users import user_create
from tests.e2e.test_ratelimit_shared import REDIS_URL, redis_or_skip
from tests.events.live import committed_org
from tests.processes import database_url, http, running_server, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def viewer_token(organization, user_id: int) -> str:
    token = AccessToken()
    token["user_id"] = user_id
    token["org"] = organization.schema_name
    return str(token)


@pytest.fixture(scope="module")
def two_orgs(django_db_setup, django_db_blocker):
    with (
        django_db_blocker.unblock(),
        committed_org("limit-alpha") as alpha,
        committed_org("limit-beta") as beta,
    ):
        ids = {}
        for live in (alpha, beta):
            connection.set_tenant(live.organization)
            user = user_create(
                username="viewer", password="pw-Secret-123", actor="system", roles=[VIEWER]
            )
            ids[live.organization.slug] = user.pk
            connection.set_schema_to_public()
        yield alpha, beta, ids


def test_another_orgs_viewer_cannot_spend_this_orgs_budget(two_orgs, tmp_path):
    redis_or_skip()
    alpha, beta, ids = two_orgs
    env = subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict),
        REDIS_URL=REDIS_URL,
        METAQORE_CACHE_KEY_PREFIX=f"xtenant-{uuid.uuid4().hex}",
        METAQORE_RATE_LIMIT_BURST="20",
        METAQORE_RATE_LIMIT_PER_MINUTE="20",
        METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE="1000",
    )
    # beta's user with the id of alpha's viewer, validly signed, sent to alpha's host
    attacker = {
        "Host": alpha.domain,
        "Authorization": f"Bearer {viewer_token(beta.organization, ids['limit-alpha'])}",
    }
    victim = {
        "Host": alpha.domain,
        "Authorization": f"Bearer {viewer_token(alpha.organization, ids['limit-alpha'])}",
    }
    with running_server(env, kind="gunicorn", log=tmp_path / "server.log") as base:
        statuses = [http("GET", f"{base}/api/v1/projects", headers=attacker)[0] for _ in range(30)]
        # 401 (another org's token), then 429 once the attacker's *address* ran out
        assert set(statuses) == {401, 429}, statuses
        assert statuses[-5:] == [429] * 5
        for _ in range(10):
            status, headers, _ = http("GET", f"{base}/api/v1/projects", headers=victim)
            assert status == 200
        assert int(headers["X-RateLimit-Remaining"]) >= 9
