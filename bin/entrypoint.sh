#!/usr/bin/env bash
# MetaQore container entrypoint (also run by the test suite outside Docker).
#
#   bin/entrypoint.sh web       wait for the database, migrate, [demo org], exec gunicorn (ASGI):
#                               everything, the event stream, WebSockets and MCP included
#   bin/entrypoint.sh api       the same, then exec the API server (Granian, WSGI): every plain
#                               HTTP request, faster; streams go to `web` (docs/DEPLOYMENT.md)
#   bin/entrypoint.sh migrate   wait for the database and migrate every schema, then exit
#   bin/entrypoint.sh worker    wait for the database, exec a background worker (jobs, schedules)
#   bin/entrypoint.sh <cmd…>    anything else is exec'd as is (e.g. python manage.py shell)
#
# Database roles (README "Security"): migrate and demo_setup connect as the owner
# (DATABASE_OWNER_URL), gunicorn and the worker as the runtime role (DATABASE_URL).
# Environment: DATABASE_URL (required in containers), DATABASE_OWNER_URL, METAQORE_DB_WAIT_SECONDS (60),
# METAQORE_MIGRATE_ON_START (true for `web`), METAQORE_DEMO_ORG (false), PORT / METAQORE_PORT,
# WEB_CONCURRENCY (gunicorn workers), PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

truthy() { case "${1,,}" in 1|true|yes|on) return 0 ;; *) return 1 ;; esac; }

# $1: the database role to wait as (owner before migrating: it creates the runtime role).
wait_for_database() {
  local deadline=$(( $(date +%s) + ${METAQORE_DB_WAIT_SECONDS:-60} ))
  until METAQORE_DB_ROLE="${1:-runtime}" "$PYTHON" - <<'PY' 2>/dev/null
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
import django
django.setup()
from django.db import connection
connection.ensure_connection()
PY
  do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "entrypoint: database not reachable after ${METAQORE_DB_WAIT_SECONDS:-60}s" >&2
      exit 1
    fi
    echo "entrypoint: waiting for the database…" >&2
    sleep 1
  done
}

migrate() {
  "$PYTHON" manage.py migrate_schemas --verbosity 0
}

demo_org() {
  if truthy "${METAQORE_DEMO_ORG:-false}"; then
    "$PYTHON" manage.py demo_setup --port "${METAQORE_PUBLIC_PORT:-${PORT:-${METAQORE_PORT:-8001}}}"
  fi
}

command="${1:-web}"
case "$command" in
  web|api)
    if truthy "${METAQORE_MIGRATE_ON_START:-true}"; then wait_for_database owner; migrate; fi
    wait_for_database runtime
    demo_org
    export PORT="${PORT:-${METAQORE_PORT:-8001}}"
    if [ "$command" = api ]; then
      exec "$PYTHON" -m metaqore_site.api_server
    fi
    if [ -f gunicorn.conf.py ]; then  # workers, bind and worker class come from the config
      exec "$PYTHON" -m gunicorn metaqore_site.asgi:application --config gunicorn.conf.py
    fi
    exec "$PYTHON" -m gunicorn metaqore_site.asgi:application \
      --worker-class uvicorn_worker.UvicornWorker \
      --workers "${WEB_CONCURRENCY:-2}" --bind "0.0.0.0:${PORT}"
    ;;
  migrate)
    wait_for_database owner
    migrate
    demo_org
    ;;
  worker)
    wait_for_database
    exec "$PYTHON" manage.py run_worker
    ;;
  *)
    exec "$@"
    ;;
esac
