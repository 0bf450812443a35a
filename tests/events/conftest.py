"""One committed organization for the live-event tests of this folder (see live.py).

Every test here must use the database (``db`` or ``pytest.mark.django_db``): pytest-django
creates the test database only for a session that has such a test, and these fixtures would
otherwise write to the development database.
"""

from __future__ import annotations

import pytest

from events.events import stream_db_close
from tests.events.live import committed_org


@pytest.fixture(scope="session")
def live(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_org("live-events") as org:
        yield org
        stream_db_close()  # the streams' pool threads keep connections to the test database
