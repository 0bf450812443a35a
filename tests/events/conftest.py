"""One committed organization for the live-event tests of this folder (see live.py)."""

from __future__ import annotations

import pytest

from tests.events.live import committed_org


@pytest.fixture(scope="session")
def live(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_org("live-events") as org:
        yield org


@pytest.fixture
def unblocked(django_db_blocker):
    """Database access from this test and the threads it starts, outside any test transaction
    (streams and workers read committed rows through their own connections)."""
    with django_db_blocker.unblock():
        yield
