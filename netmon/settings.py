"""Django settings for netmon, read from the environment (and ``.env`` when present).

Every variable is documented in ``.env.example``.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from connectivity.config import env_interval_minutes, env_targets
from netmon.data_files import make_private_directory
from netmon.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_time,
    env_timezone,
    env_url,
    env_weekdays,
    secret_key,
)
from netmon.log_config import LOG_FORMAT

BASE_DIR = Path(__file__).resolve().parent.parent
# NETMON_ENV_FILE= (empty) skips the file: the test command does so, so that a
# developer's .env can never point the tests at a real Discord channel.
ENV_FILE = os.environ.get("NETMON_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE:
    load_dotenv(ENV_FILE, override=False)

DATA_DIR = (BASE_DIR / env_str("NETMON_DATA_DIR", "data")).resolve()  # relative: to BASE_DIR
SECRET_KEY = secret_key(DATA_DIR)
DEBUG = env_bool("DEBUG", False)

NETMON_BASE_URL = env_url("NETMON_BASE_URL", "http://127.0.0.1:8080").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS") or [
    "{0.scheme}://{0.netloc}".format(urlsplit(NETMON_BASE_URL))
]
if env_bool("NETMON_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
NETMON_TRUST_X_FORWARDED_FOR = env_bool("NETMON_BEHIND_PROXY", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = NETMON_BASE_URL.startswith("https://")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "netmon.apps.StaticFilesConfig",  # django.contrib.staticfiles without ReDoc
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "netmon",
    "accounts",
    "hosts",
    "maintenance",
    "heartbeats",
    "alerts",
    "analysis",
    "connectivity",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "netmon.middleware.RefuseNulCharacters",  # PostgreSQL refuses them: no 500s
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login with the lockout
]

ROOT_URLCONF = "netmon.urls"
WSGI_APPLICATION = "netmon.wsgi.application"

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
            ],
        },
    },
]


def _database() -> dict:
    url = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite'}")
    try:
        config = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
    except (ValueError, dj_database_url.UnknownSchemeError) as error:
        raise ImproperlyConfigured(f"DATABASE_URL is invalid: {error}") from None
    transaction_pooling = env_bool("DATABASE_TRANSACTION_POOLING", False)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        make_private_directory(Path(config["NAME"]).parent)
        # WAL + IMMEDIATE transactions + a busy timeout: web, workers and the
        # monitor loop write concurrently without "database is locked".
        config["CONN_MAX_AGE"] = 0 if config["NAME"] == ":memory:" else 600
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, without a health query per request (netmon/postgresql/base.py)
        config["ENGINE"] = "netmon.postgresql"
        # Behind PgBouncer in transaction mode a cursor cannot outlive its transaction.
        config["DISABLE_SERVER_SIDE_CURSORS"] = transaction_pooling
    else:
        raise ImproperlyConfigured("DATABASE_URL must be a sqlite:// or postgres:// URL")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss"))
TASK_BROKER = env_choice("TASK_BROKER", "orm", ("orm", "redis"))
if TASK_BROKER == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("TASK_BROKER=redis needs REDIS_URL")

# A shared cache so that every process sees the task cluster's statistics. (Failed
# authentications are counted in a table, accounts.AuthFailureCount, not in a cache.)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        },
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "netmon_cache",
        },
    }

Q_CLUSTER = {
    "name": "netmon",
    "workers": env_int("TASK_WORKERS", 2, 1, 32),
    "timeout": 90,
    "retry": 120,
    "max_attempts": 3,
    "ack_failures": True,
    "save_limit": 500,
    "catch_up": False,
    "label": "Tasks",
    "poll": 0.2,
}
if TASK_BROKER == "redis":
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Failed password logins (web login and admin login) by django-axes, in its own tables:
# after LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is
# refused (429, even with the right password) for LOGIN_LOCKOUT_MINUTES after its last
# failure. `manage.py axes_reset_username NAME` (or axes_reset) lifts a lockout early.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, 1, 1000)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, 1, 7 * 24 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures only: no table that grows with every login
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_address"
# Failed API-key and host-token authentication (accounts/throttle.py): an address with
# AUTH_FAILURE_LIMIT failures in a window of AUTH_FAILURE_WINDOW_SECONDS gets 429.
AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 20, 1, 1_000_000)
AUTH_FAILURE_WINDOW_SECONDS = env_int("AUTH_FAILURE_WINDOW_SECONDS", 300, 1, 86400)
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = LOGOUT_REDIRECT_URL = "web:dashboard"
# true: anyone may see the status dashboard, read-only (no tokens, payloads or write actions).
NETMON_PUBLIC_DASHBOARD = env_bool("NETMON_PUBLIC_DASHBOARD", False)
NETMON_DASHBOARD_REFRESH_SECONDS = env_float("NETMON_DASHBOARD_REFRESH_SECONDS", 5.0, 0.2, 3600)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Hashed, compressed files once `collectstatic` ran (the container, the quick
# start); straight from the apps otherwise, e.g. in tests.
COLLECTED = (STATIC_ROOT / "staticfiles.json").exists()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasCapability"],
    "DEFAULT_PAGINATION_CLASS": "netmon.pagination.LimitOffsetPagination",  # limit 1–1000
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "netmon.api.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only: form encoding turns "" into "not sent" and every value into text.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "netmon.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "netmon API",
    "DESCRIPTION": "Heartbeats, hosts, alerts and health of a netmon server.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "netmon.api.document_error_responses",
        "heartbeats.openapi.document_heartbeat_endpoints",  # plain views, not DRF's
    ],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Choices used by several serializers: one named enum each in the schema.
    "ENUM_NAME_OVERRIDES": {
        "AlertKindEnum": "alerts.choices.AlertKind",
        "AlertSeverityEnum": "alerts.choices.Severity",
        "ChannelKindEnum": "alerts.choices.ChannelKind",
    },
    # Served from the installed sidecar package: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Monitoring behaviour
BUSINESS_HOURS_START = env_time("BUSINESS_HOURS_START", "08:00")
BUSINESS_HOURS_END = env_time("BUSINESS_HOURS_END", "18:00")
BUSINESS_HOURS_DAYS = env_weekdays("BUSINESS_HOURS_DAYS", "1,2,3,4,5")
BUSINESS_HOURS_TIMEZONE = env_timezone("BUSINESS_HOURS_TIMEZONE", "America/New_York")
if BUSINESS_HOURS_START == BUSINESS_HOURS_END:
    raise ImproperlyConfigured("BUSINESS_HOURS_START and BUSINESS_HOURS_END must differ")

HEARTBEAT_MAX_BODY_BYTES = env_int("HEARTBEAT_MAX_BODY_BYTES", 10240, 0, 1024 * 1024)
HEARTBEAT_KEEP_PER_HOST = env_int("HEARTBEAT_KEEP_PER_HOST", 1000, 10, 1_000_000)
STATUS_HISTORY_KEEP_DAYS = env_int("STATUS_HISTORY_KEEP_DAYS", 400, 31, 10_000)
ALERT_KEEP_DAYS = env_int("ALERT_KEEP_DAYS", 90, 1, 10_000)

SWEEP_INTERVAL_SECONDS = env_float("SWEEP_INTERVAL_SECONDS", 1.0, 0.1, 60)
REMINDER_INTERVAL_SECONDS = env_int("REMINDER_INTERVAL_SECONDS", 0, 0, 30 * 86400)
FLAP_THRESHOLD = env_int("FLAP_THRESHOLD", 6, 2, 1000)
FLAP_WINDOW_SECONDS = env_int("FLAP_WINDOW_SECONDS", 3600, 60, 86400)

DISCORD_WEBHOOK_URL = env_url("DISCORD_WEBHOOK_URL")
DISCORD_ALLOWED_MENTIONS = env_list(
    "DISCORD_ALLOWED_MENTIONS", choices=("roles", "users", "everyone")
)
ALERT_RETRY_HOURS = env_int("ALERT_RETRY_HOURS", 48, 24, 24 * 30)
DISCORD_MESSAGE_SPACING_SECONDS = env_float("DISCORD_MESSAGE_SPACING_SECONDS", 2.0, 0.0, 60)
# Connect and read timeout of a webhook request; a failing channel's probes get at most
# ALERT_PROBE_INTERVAL_SECONDS, the longest gap between probes (alerts/delivery.py).
ALERT_HTTP_TIMEOUT_SECONDS = env_float("ALERT_HTTP_TIMEOUT_SECONDS", 5.0, 0.1, 120)
ALERT_PROBE_INTERVAL_SECONDS = env_float("ALERT_PROBE_INTERVAL_SECONDS", 2.0, 0.5, 300)
ALERT_DELIVERY_LEASE_SECONDS = env_int("ALERT_DELIVERY_LEASE_SECONDS", 60, 5, 3600)
FLAP_QUIET_SECONDS = env_int("FLAP_QUIET_SECONDS", 900, 60, 86400)

# Internet connectivity of this server and healthchecks.io pings (docs/connectivity.md)
CONNECTIVITY_ENABLED = env_bool("CONNECTIVITY_ENABLED", True)
CONNECTIVITY_TARGETS = env_targets("CONNECTIVITY_TARGETS")
CONNECTIVITY_CHECK_INTERVAL_MINUTES = env_interval_minutes("CONNECTIVITY_CHECK_INTERVAL_MINUTES", 5)
CONNECTIVITY_TIMEOUT_SECONDS = env_float("CONNECTIVITY_TIMEOUT_SECONDS", 5.0, 0.5, 30)
CONNECTIVITY_DOWN_PERCENT = env_int("CONNECTIVITY_DOWN_PERCENT", 50, 0, 99)
CONNECTIVITY_FAILURES_TO_OPEN = env_int("CONNECTIVITY_FAILURES_TO_OPEN", 2, 1, 100)
CONNECTIVITY_SUCCESSES_TO_CLOSE = env_int("CONNECTIVITY_SUCCESSES_TO_CLOSE", 1, 1, 100)
CONNECTIVITY_CHECK_KEEP_DAYS = env_int("CONNECTIVITY_CHECK_KEEP_DAYS", 30, 1, 10_000)
HEALTHCHECKS_URL = env_url("HEALTHCHECKS_URL")
HEALTHCHECKS_PING_INTERVAL_SECONDS = env_int("HEALTHCHECKS_PING_INTERVAL_SECONDS", 60, 1, 86400)

LOG_LEVELS = ("debug", "info", "warning", "error")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    "filters": {"unhealthy_report": {"()": "netmon.log_config.UnhealthyReportFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "info", LOG_LEVELS).upper()},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.request": {"filters": ["unhealthy_report"]},  # a 503 report is no error
        "axes.apps": {"level": "WARNING"},  # not its version banner at every command
    },
}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, 1, 65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "netmon@localhost")


def _networks(name: str) -> list[str]:
    """Comma-separated IP networks in CIDR notation (a plain address means just that one)."""
    items = env_list(name)
    try:
        return [str(ipaddress.ip_network(item, strict=False)) for item in items]
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={','.join(items)!r} is invalid: expected IP networks such as 10.0.0.0/8"
        ) from None


# GET /metrics (Prometheus): client addresses that may read it without an API key.
METRICS_ALLOWED_IPS = _networks("METRICS_ALLOWED_IPS")


# Log analysis (docs/log-analysis.md)


def _directories(name: str, default: Path) -> list[Path]:
    """Absolute directories separated by ":" (like PATH), none of them empty."""
    value = env_str(name)
    if not value:
        return [default]
    parts = value.split(":")
    if not all(part and os.path.isabs(part) for part in parts):
        raise ImproperlyConfigured(
            f"{name}={value!r} is invalid: expected absolute directories separated by ':'"
        )
    return [Path(os.path.normpath(part)) for part in parts]


# Where the private keys of log sources are: a source names a key file directly inside one.
ANALYSIS_SSH_KEY_DIRS = _directories("ANALYSIS_SSH_KEY_DIRS", DATA_DIR / "ssh")
ANALYSIS_SSH_CONNECT_TIMEOUT_SECONDS = env_float(
    "ANALYSIS_SSH_CONNECT_TIMEOUT_SECONDS", 15.0, 0.1, 300
)
ANALYSIS_COMMAND_TIMEOUT_SECONDS = env_float("ANALYSIS_COMMAND_TIMEOUT_SECONDS", 60.0, 0.1, 3600)
ANALYSIS_MAX_BYTES = env_int("ANALYSIS_MAX_BYTES", 5_000_000, 1024, 500_000_000)
ANALYSIS_ALLOW_LOCAL_SOURCES = env_bool("ANALYSIS_ALLOW_LOCAL_SOURCES", False)
# A finding's level (info, low, medium, high, critical); warning and error are accepted too.
ANALYSIS_ALERT_MIN_SEVERITY = env_choice(
    "ANALYSIS_ALERT_MIN_SEVERITY",
    "high",
    ("info", "low", "medium", "high", "critical", "warning", "error"),
)
ANALYSIS_ALERT_MIN_SEVERITY = {"warning": "medium", "error": "high"}.get(
    ANALYSIS_ALERT_MIN_SEVERITY, ANALYSIS_ALERT_MIN_SEVERITY
)
ANALYSIS_REALERT_HOURS = env_int("ANALYSIS_REALERT_HOURS", 24, 0, 24 * 365)
ANALYSIS_FAILURE_ALERT_AFTER = env_int("ANALYSIS_FAILURE_ALERT_AFTER", 3, 1, 100)
ANALYSIS_MAX_ALERTS_PER_RUN = env_int("ANALYSIS_MAX_ALERTS_PER_RUN", 10, 1, 100)
ANALYSIS_RUN_KEEP_DAYS = env_int("ANALYSIS_RUN_KEEP_DAYS", 30, 1, 3650)
ANALYSIS_RUN_TIME_LIMIT_SECONDS = env_int("ANALYSIS_RUN_TIME_LIMIT_SECONDS", 900, 30, 86400)
ANALYSIS_BRUTE_FORCE_THRESHOLD = env_int("ANALYSIS_BRUTE_FORCE_THRESHOLD", 5, 2, 100_000)
ANALYSIS_PORT_SCAN_THRESHOLD = env_int("ANALYSIS_PORT_SCAN_THRESHOLD", 10, 3, 65535)
ANALYSIS_FIREWALL_DROP_THRESHOLD = env_int("ANALYSIS_FIREWALL_DROP_THRESHOLD", 50, 2, 10_000_000)


def _rules_dir(name: str) -> Path | None:
    """An existing absolute directory of extra rule packs (*.yaml), or None when unset."""
    value = env_str(name).strip()
    if not value:
        return None
    if not os.path.isabs(value) or not os.path.isdir(value):
        raise ImproperlyConfigured(
            f"{name}={value!r} is invalid: expected an existing absolute directory"
        )
    return Path(os.path.normpath(value))


# Rule packs of the operator (analysis/rule_loader.py): they add to or override the packs
# netmon ships; validated at start (an error names the file and line).
ANALYSIS_RULES_DIR = _rules_dir("ANALYSIS_RULES_DIR")
LLM_API_URL = env_url("LLM_API_URL")
LLM_API_KEY = env_str("LLM_API_KEY")
LLM_API_STYLE = env_choice("LLM_API_STYLE", "openai", ("openai", "anthropic"))
LLM_DEFAULT_MODEL = env_str("LLM_DEFAULT_MODEL", "claude-sonnet-4.5")
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 90.0, 0.1, 600)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 3, 0, 10)
LLM_RETRY_BASE_SECONDS = env_float("LLM_RETRY_BASE_SECONDS", 2.0, 0.0, 60)
LLM_RETRY_MAX_WAIT_SECONDS = env_float("LLM_RETRY_MAX_WAIT_SECONDS", 60.0, 0.0, 600)
LLM_MAX_INPUT_TOKENS = env_int("LLM_MAX_INPUT_TOKENS", 24_000, 2_000, 2_000_000)
LLM_MAX_OUTPUT_TOKENS = env_int("LLM_MAX_OUTPUT_TOKENS", 4096, 256, 128_000)
LLM_MAX_CHUNKS = env_int("LLM_MAX_CHUNKS", 8, 1, 100)
LLM_PRICE_INPUT_PER_MTOK = env_float("LLM_PRICE_INPUT_PER_MTOK", 0.0, 0.0, 10_000)
LLM_PRICE_OUTPUT_PER_MTOK = env_float("LLM_PRICE_OUTPUT_PER_MTOK", 0.0, 0.0, 10_000)
