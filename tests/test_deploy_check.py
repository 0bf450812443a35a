"""``manage.py check --deploy`` with production settings reports nothing (issue #6): security
headers, cookies and HTTPS settings are complete once the operator sets the documented env."""

from __future__ import annotations

import secrets

import pytest

from tests.processes import manage, subprocess_env

# The checks never connect: any well-formed URL keeps the embedded database out of it.
UNUSED_DATABASE = "postgresql://metaqore@127.0.0.1:9/unused"


def production_env(**overrides: str) -> dict[str, str]:
    production = {
        "DATABASE_URL": UNUSED_DATABASE,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "metaqore.example.com",
        "METAQORE_HSTS_SECONDS": "31536000",
        "METAQORE_SSL_REDIRECT": "true",
        "METAQORE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    }
    return subprocess_env(**{**production, **overrides})


def test_production_settings_pass_every_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output


@pytest.mark.parametrize(
    "overrides, warning",
    [
        ({"SECRET_KEY": ""}, "security.W009"),  # the development fallback key
        ({"METAQORE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"METAQORE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"METAQORE_SECURE_COOKIES": "false"}, "security.W012"),
    ],
)
def test_a_missing_production_setting_is_reported(overrides, warning):
    result = manage("check", "--deploy", env=production_env(**overrides))
    assert warning in result.stdout + result.stderr
