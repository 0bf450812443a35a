"""Fixtures of the end-to-end tests: a fresh database on the system PostgreSQL."""

from __future__ import annotations

import os
import secrets
import socket

import psycopg
import pytest
from psycopg import sql

SERVER = ("127.0.0.1", 5432)


def server_reachable() -> bool:
    try:
        with socket.create_connection(SERVER, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def fresh_database():
    if not server_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no PostgreSQL listens on 127.0.0.1:5432")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"metaqore_e2e_{secrets.token_hex(4)}"
    admin = psycopg.connect(host=SERVER[0], port=SERVER[1], user="postgres", autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@{SERVER[0]}:{SERVER[1]}/{name}"
    finally:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
