"""Django settings: everything a deployment changes comes from the environment (kpcs.config)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dj_database_url

from kpcs import config

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = config.secret_key()
DEBUG = os.environ.get("KPCS_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("KPCS_ALLOWED_HOSTS", "*").split(",") if h]

INSTALLED_APPS = [
    # No autodiscovery: /admin/ is kpcs.registry.admin.site, which shows only what kpcs registers there.
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_tasks",
    "django_tasks.backends.database",  # background jobs (statistics scans, expiry) kept in the database
    "ninja",  # serves the interactive API docs from its bundled static files, not from a CDN
    "kpcs.audit",
    "kpcs.registry",
    "kpcs.certificates",
    "kpcs.statistics",
    "kpcs.monitoring",
    "kpcs.governance",
    "kpcs.custody",
    "kpcs.web",
]

MIDDLEWARE = [
    "kpcs.middleware.ApiGuardMiddleware",  # first: an oversized API body is refused before anything reads it
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the language chosen, else the browser's (Accept-Language)
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kpcs.middleware.PageMessageMiddleware",  # Django's, skipped for /api/
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kpcs.urls"
WSGI_APPLICATION = "kpcs.wsgi.application"
ASGI_APPLICATION = "kpcs.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kpcs.web.navigation.navigation",
            ],
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    db: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # Writers queue instead of failing with "database is locked"; WAL + FULL sync so that an
        # acknowledged write survives a crash (BRIEF §7).
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000",
        }
        db["CONN_MAX_AGE"] = 0 if db["NAME"] == ":memory:" else 600
        # Tests use a real file (not shared-cache memory) so concurrent writers behave as in production.
        db["TEST"] = {"NAME": str(config.data_dir() / "test_kpcs.sqlite3")}
    else:
        db.setdefault("TEST", {})
    return db


DATABASES = {"default": _database(config.database_url())}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in is rate-limited: 5 failures lock the (user, address) pair for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_VERBOSE = False

# Behind HTTPS (KPCS_HTTPS=1, a TLS-terminating proxy that sets X-Forwarded-Proto): secure cookies, HSTS, redirect
# plain HTTP; `kpcs check --deploy` then reports nothing.
HTTPS = os.environ.get("KPCS_HTTPS", "") == "1"
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = [f"https://{h.lstrip('.')}" for h in ALLOWED_HOSTS if h != "*"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Request bodies: 1 MiB is far above any API request (a 100-line certificate is ~10 KB); larger answers 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# People set their own password through a one-time link (registry.services.password_reset_link and
# send_password_reset); a link works once and for 24 hours.
PASSWORD_RESET_TIMEOUT = 24 * 3600
# Where people reach this node, for links in e-mails (else the address the sender used).
KPCS_BASE_URL = os.environ.get("KPCS_BASE_URL", "").strip().rstrip("/")

# Mail: KPCS_SMTP_URL = smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465 (TLS).
# Without it, mail is written to $KPCS_DATA_DIR/outbox (mode 0700), which only the node operator reads.
_smtp = urlsplit(os.environ.get("KPCS_SMTP_URL", "").strip())
if _smtp.scheme:
    if _smtp.scheme not in ("smtp", "smtps") or not _smtp.hostname:
        raise ValueError("KPCS_SMTP_URL must look like smtp://user:password@host:587 or smtps://…")
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _smtp.hostname
    EMAIL_USE_SSL = _smtp.scheme == "smtps"
    EMAIL_USE_TLS = not EMAIL_USE_SSL
    EMAIL_PORT = _smtp.port or (465 if EMAIL_USE_SSL else 587)
    EMAIL_HOST_USER = unquote(_smtp.username or "")
    EMAIL_HOST_PASSWORD = unquote(_smtp.password or "")
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = config.data_dir() / "outbox"
    EMAIL_FILE_PATH.mkdir(mode=0o700, exist_ok=True)
    os.chmod(EMAIL_FILE_PATH, 0o700)
DEFAULT_FROM_EMAIL = os.environ.get("KPCS_MAIL_FROM", "kpcs@localhost")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = config.data_dir() / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# Scheme defaults; each participant may override them (registry.Participant).
KPCS_DEFAULT_VALIDITY_DAYS = 60  # CERT-09
KPCS_DEFAULT_CONFIRMATION_DAYS = 15  # IMP-02 (US rule as default)
# STAT-01, STAT-03: statistics are due this many months after their period.
KPCS_STATISTICS_DUE_MONTHS = int(os.environ.get("KPCS_STATISTICS_DUE_MONTHS", "2"))
# Background jobs (statistics scans, the hourly expiry): django-tasks' database backend, so SQLite needs nothing
# more; `kpcs worker` runs them. KPCS_TASK_BACKEND names another backend (e.g. one on a queue server).
TASKS = {"default": {"BACKEND": os.environ.get("KPCS_TASK_BACKEND",
                                              "django_tasks.backends.database.DatabaseBackend")}}
# How often `kpcs worker` enqueues the expiry of unused certificates (CERT-09), in seconds.
KPCS_EXPIRY_INTERVAL = int(os.environ.get("KPCS_EXPIRY_INTERVAL", "3600"))
# A running scan writes a sign of life every KPCS_SCAN_HEARTBEAT seconds; one silent for KPCS_SCAN_STALE seconds
# lost its worker (killed) and is marked failed by `kpcs worker` (at start-up and every minute) or a new scan.
KPCS_SCAN_HEARTBEAT = float(os.environ.get("KPCS_SCAN_HEARTBEAT", "30"))
KPCS_SCAN_STALE = float(os.environ.get("KPCS_SCAN_STALE", "300"))
# Requests per minute: per client address on public endpoints, per token or person on the rest (0 = no limit).
KPCS_RATE_PUBLIC = int(os.environ.get("KPCS_RATE_PUBLIC", "120"))
KPCS_RATE_TOKEN = int(os.environ.get("KPCS_RATE_TOKEN", "1200"))
# Trusted reverse proxies in front of the node: the client address is read from X-Forwarded-For behind them.
KPCS_PROXY_HOPS = int(os.environ.get("KPCS_PROXY_HOPS", "0"))
# A trust list is valid this long (its next_update); a new issue is published after half of it, or on a change.
KPCS_TRUST_LIST_HOURS = int(os.environ.get("KPCS_TRUST_LIST_HOURS", str(7 * 24)))
