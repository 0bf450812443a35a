"""`manage.py migrate_schemas` over every organization, with each of django-tenants' executors."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.processes import database_url, manage, subprocess_env


@pytest.mark.parametrize("executor", ["standard", "multiprocessing"])
def test_migrate_schemas_completes_with_the_connection_pool_on(django_db_setup, executor):
    """The multiprocessing executor forks its workers; with the psycopg pool they used to
    inherit its open sockets and hang (tenants.apps closes the pools before any fork)."""
    env = subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict), METAQORE_DB_POOL="true"
    )
    result = manage(
        "migrate_schemas", "--tenant", f"--executor={executor}", "--noinput", env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "multiprocessing:org_alpha" in result.stdout or executor == "standard"
    assert "org_beta" in result.stdout
