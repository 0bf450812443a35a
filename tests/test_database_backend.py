"""The database backend (metaqore_site.postgresql_backend): the pool's check before lending a
connection costs no round trip for a live idle connection and refuses one the server closed;
a connection's search path is set only when its session does not have it already."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from metaqore_site.postgresql_backend.base import SearchPathMismatch, idle_connection_check
from projects.models import Project
from tenants.models import Organization
from tests.conftest import ORG_A, ORG_B


def direct_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    for option in ("cursor_factory", "context", "prepare_threshold", "pool"):
        params.pop(option, None)
    return psycopg.connect(**params, autocommit=True)


def last_query(backend_pid: int) -> str:
    with direct_connection() as observer:
        row = observer.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", [backend_pid]
        ).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.django_db
def test_a_live_idle_connection_passes_without_a_round_trip():
    with direct_connection() as conn:
        conn.execute("SELECT 'last thing this connection ran'")
        idle_connection_check(conn)
        idle_connection_check(conn)
        assert last_query(conn.info.backend_pid) == "SELECT 'last thing this connection ran'"


@pytest.mark.django_db
def test_a_connection_the_server_terminated_is_refused():
    with direct_connection() as conn, direct_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the server's goodbye reaches the socket
            try:
                idle_connection_check(conn)
            except psycopg.OperationalError:
                break
            time.sleep(0.02)
        else:
            pytest.fail("a terminated connection passed the check")


@pytest.mark.django_db
def test_a_closed_connection_is_refused():
    conn = direct_connection()
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        idle_connection_check(conn)


@pytest.mark.django_db
def test_the_pool_uses_the_check():
    assert connection.settings_dict["OPTIONS"].get("pool")
    assert connection.pool._check is idle_connection_check


# The search path, remembered per physical connection. These tests run outside the test
# transaction (a SET inside a transaction is never remembered), on the session's committed orgs.


@pytest.fixture
def committed(django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield Organization.objects.get(slug=ORG_A[0]), Organization.objects.get(slug=ORG_B[0])
        connection.set_schema_to_public()


def sets_of(query: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        query()
    return [q["sql"] for q in captured if q["sql"].startswith("SET search_path")]


def count_projects() -> int:
    return Project.objects.count()


def session_search_path() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]


def test_a_search_path_is_set_once_per_connection_until_the_org_changes(committed):
    alpha, beta = committed
    connection.set_tenant(alpha)
    count_projects()  # whatever the session had, it has alpha's path now
    connection.set_tenant(alpha)  # the next request, same org: nothing to send
    assert sets_of(count_projects) == []
    connection.set_tenant(beta)
    assert sets_of(count_projects) == [f'SET search_path = "{beta.schema_name}","public"']
    assert session_search_path() == f"{beta.schema_name}, public"
    connection.set_tenant(alpha)
    assert sets_of(count_projects) == [f'SET search_path = "{alpha.schema_name}","public"']


def test_a_search_path_set_inside_a_rolled_back_transaction_is_set_again(committed):
    alpha, beta = committed
    connection.set_tenant(alpha)
    count_projects()
    with pytest.raises(RuntimeError), transaction.atomic():
        connection.set_tenant(beta)
        count_projects()  # SET to beta inside the transaction: undone by the rollback
        raise RuntimeError
    connection.set_tenant(beta)
    assert sets_of(count_projects) == [f'SET search_path = "{beta.schema_name}","public"']
    assert session_search_path() == f"{beta.schema_name}, public"


def test_sql_that_changes_the_search_path_must_say_so(committed):
    alpha, _beta = committed
    connection.set_tenant(alpha)
    count_projects()
    with connection.cursor() as cursor:  # behind the backend's back
        cursor.execute("SET search_path = public")
    connection.set_tenant(alpha)
    # The test servers verify every skipped SET: the mismatch is caught, not served.
    with pytest.raises(SearchPathMismatch):
        count_projects()
    connection.forget_search_path()
    connection.set_tenant(alpha)
    assert sets_of(count_projects) == [f'SET search_path = "{alpha.schema_name}","public"']
