"""Per-account login lockout with backoff, audited, unlocked by an org admin (issue #18,
defect 6), and sliding windows for the per-IP limits.

Reproduced first: 40 wrong passwords for one account from 40 addresses, then the right one,
got a token (200); 15 wrong + 1 right passed the per-IP limit once at a window boundary.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from access import ratelimits
from access.models import LoginLockout
from access.roles import ORG_ADMIN, VIEWER
from compliance.models import AuditEvent
from tests.conftest import client_for, make_user, use_org
from tests.e2e.test_ratelimit_shared import REDIS_URL, redis_or_skip

PASSWORD = "pw-Secret-123"
TOKEN = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def lockout_settings(settings):
    settings.METAQORE_LOGIN_LOCKOUT_FAILURES = 5
    settings.METAQORE_LOGIN_LOCKOUT_WINDOW_SECONDS = 900
    settings.METAQORE_LOGIN_LOCKOUT_SECONDS = 60
    settings.METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE = 10


def token_attempt(org, username: str, password: str, ip: str):
    return client_for(org).post(TOKEN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def events(org, event_type: str) -> list[AuditEvent]:
    use_org(org)
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("seq"))


def test_forty_addresses_cannot_guess_one_account(org_a):
    make_user(org_a, "target", VIEWER)
    statuses = [
        token_attempt(org_a, "target", f"guess-{i}", f"10.0.{i}.1").status_code for i in range(40)
    ]
    assert statuses[:4] == [401] * 4
    assert set(statuses[4:]) == {429}  # the 5th failure locks; then no password is checked
    right = token_attempt(org_a, "target", PASSWORD, "10.1.1.1")
    assert right.status_code == 429
    assert "locked" in right.json()["detail"]
    assert 1 <= int(right["Retry-After"]) <= 60
    (locked,) = events(org_a, "auth.locked_out")
    assert locked.resource_id == "target"
    assert locked.payload["locked_seconds"] == 60
    assert locked.payload["failures"] == 5


def test_each_further_lockout_lasts_twice_as_long(org_a):
    make_user(org_a, "slow", VIEWER)
    for round_number in range(3):
        for i in range(5):
            token_attempt(org_a, "slow", "wrong", f"10.2.{round_number}.{i}")
        use_org(org_a)  # the lockout ends (as if its time had passed)
        LoginLockout.objects.filter(username="slow").update(
            locked_until=timezone.now() - timedelta(seconds=1)
        )
    seconds = [e.payload["locked_seconds"] for e in events(org_a, "auth.locked_out")]
    assert seconds == [60, 120, 240]


def test_a_successful_login_ends_the_backoff(org_a):
    make_user(org_a, "forgetful", VIEWER)
    for i in range(4):
        token_attempt(org_a, "forgetful", "wrong", "10.3.0.1")
    assert token_attempt(org_a, "forgetful", PASSWORD, "10.3.0.1").status_code == 200
    use_org(org_a)
    assert not LoginLockout.objects.filter(username="forgetful").exists()
    for i in range(4):  # four more: still under the limit, the count started again
        assert token_attempt(org_a, "forgetful", "wrong", "10.3.0.2").status_code == 401
    assert token_attempt(org_a, "forgetful", PASSWORD, "10.3.0.3").status_code == 200


def test_unknown_usernames_leave_no_rows(org_a):
    for i in range(8):
        assert token_attempt(org_a, "nobody", "x", f"10.4.0.{i}").status_code == 401
    use_org(org_a)
    assert not LoginLockout.objects.exists()


def test_lockout_is_per_org(org_a, org_b):
    make_user(org_a, "shared-name", VIEWER)
    make_user(org_b, "shared-name", VIEWER)
    for i in range(6):
        token_attempt(org_a, "shared-name", "wrong", f"10.5.0.{i}")
    assert token_attempt(org_b, "shared-name", PASSWORD, "10.5.1.1").status_code == 200


@pytest.mark.parametrize("path", ["/dashboard/login/", "/admin/login/"])
def test_dashboard_and_admin_logins_respect_the_lockout(org_a, path):
    user = make_user(org_a, "staffer", ORG_ADMIN)
    user.is_staff = True
    user.save()
    for i in range(5):
        Client(HTTP_HOST="alpha.localhost", REMOTE_ADDR=f"10.6.0.{i}").post(
            path, {"username": "staffer", "password": "wrong"}
        )
    client = Client(HTTP_HOST="alpha.localhost", REMOTE_ADDR="10.6.1.1")
    response = client.post(path, {"username": "staffer", "password": PASSWORD})
    assert response.status_code == 200  # the form again, not a redirect into the site
    assert "_auth_user_id" not in client.session


def test_org_admin_unlocks_from_the_dashboard(org_a):
    make_user(org_a, "locked-out", VIEWER)
    for i in range(5):
        token_attempt(org_a, "locked-out", "wrong", f"10.7.0.{i}")
    assert token_attempt(org_a, "locked-out", PASSWORD, "10.7.1.1").status_code == 429

    viewer = Client(HTTP_HOST="alpha.localhost")
    viewer.force_login(make_user(org_a, "peeker", VIEWER))
    assert viewer.get("/dashboard/users/lockouts/").status_code == 403
    assert viewer.post("/dashboard/users/lockouts/", {"unlock": "locked-out"}).status_code == 403

    admin = Client(HTTP_HOST="alpha.localhost")
    admin.force_login(make_user(org_a, "boss", ORG_ADMIN))
    page = admin.get("/dashboard/users/lockouts/")
    assert page.status_code == 200
    assert b'data-username="locked-out"' in page.content
    assert b"locked for" in page.content
    done = admin.post("/dashboard/users/lockouts/", {"unlock": "locked-out"}, follow=True)
    assert b"locked-out unlocked." in done.content
    (unlocked,) = events(org_a, "auth.unlocked")
    assert unlocked.actor == "user:boss"
    assert unlocked.payload["was_locked"] is True
    assert token_attempt(org_a, "locked-out", PASSWORD, "10.7.1.2").status_code == 200


# sliding windows for the per-IP limits ----------------------------------------------------


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_login_limit_is_a_sliding_window(org_a, monkeypatch):
    """A fixed window let 10 attempts at :59 and 10 more at :01 through; a sliding one does
    not let more than ~10 through in any 60 seconds."""
    clock = Clock(6_000_000 * 60 + 59.0)  # one second before a minute boundary
    monkeypatch.setattr(ratelimits.time, "time", clock)
    statuses = [token_attempt(org_a, "x", "y", "10.8.0.1").status_code for _ in range(10)]
    assert statuses == [401] * 10
    clock.now += 2  # the next fixed window
    after = [token_attempt(org_a, "x", "y", "10.8.0.1").status_code for _ in range(3)]
    assert after == [429, 429, 429]
    refused = token_attempt(org_a, "x", "y", "10.8.0.1")
    assert int(refused["Retry-After"]) >= 1
    clock.now += 61  # a quiet minute later the address may try again
    assert token_attempt(org_a, "x", "y", "10.8.0.1").status_code == 401


@pytest.fixture(params=["locmem", "redis"])
def cache_backend(request, settings):
    """The sliding windows against the test cache and against a real Redis (production)."""
    if request.param == "redis":
        redis_or_skip()
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"sliding-{uuid.uuid4().hex}",
            }
        }
    return request.param


def test_sliding_usage_estimates_the_last_minute(monkeypatch, cache_backend):
    clock = Clock(6_000_000 * 60 + 30.0)  # half way through a window
    monkeypatch.setattr(ratelimits.time, "time", clock)
    for _ in range(10):
        ratelimits.sliding_usage("t", "ip:x", 10, increment=True)
    clock.now += 60  # half of the previous window still overlaps: 10 * 0.5 = 5
    usage = ratelimits.sliding_usage("t", "ip:x", 10, increment=True)
    assert not usage.limited
    assert usage.remaining == 4
    for _ in range(4):
        ratelimits.sliding_usage("t", "ip:x", 10, increment=True)
    over = ratelimits.sliding_usage("t", "ip:x", 10, increment=True)
    assert over.limited
    assert 1 <= over.retry_after <= 60
