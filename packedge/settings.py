"""PackEdge settings, read from the environment in one place.

Every knob is an environment variable with a typed default, so that a fresh
checkout runs on SQLite with nothing else installed while production points
``DATABASE_URL`` at PostgreSQL and ``CACHE_URL`` at Redis.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "tenancy",  # the tenancy core (app label "packedge": its tables keep their names)
    "events",
    "analytics",
    "flags",
    "console",
]

MIDDLEWARE = [
    "flags.cors.OfrepCorsMiddleware",  # first: its headers reach every /ofrep/ response, 503 and 500 included
    "lib.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lib.middleware.ContentSecurityPolicyMiddleware",  # the console's pages (HTML responses only)
    "lib.middleware.NulCharacterMiddleware",  # ?anything=%00 is a 400, whichever view reads it
    # Serves /static/ (the JS SDK, the console's CSS) from the app server itself,
    # with Access-Control-Allow-Origin: * so customers' sites can load the SDK.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "events.middleware.CorsMiddleware",  # django-cors-headers, preflight answered 204
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenancy.permissions.ViewerReadOnlyMiddleware",  # a viewer's POST to any organization page is a 403
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "flags.middleware.SdkKeyUsageMiddleware",  # the console's "last used" of SDK keys
]

# Ingestion (/public/) and flag evaluation (/ofrep/) are called by machines that
# carry their key in the body or a header: sessions, CSRF, messages and console
# auth do nothing for them yet cost most of their CPU per request. The WSGI
# application (packedge/wsgi.py) runs them through this shorter stack.
MACHINE_PATH_PREFIXES = ("/public/", "/ofrep/")
MACHINE_MIDDLEWARE = [
    "flags.cors.OfrepCorsMiddleware",
    "lib.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "events.middleware.CorsMiddleware",
    # Sets Content-Length: without it gunicorn answers chunked, which minimal
    # HTTP clients (and some beacon proxies) handle badly or not at all.
    "django.middleware.common.CommonMiddleware",
    "flags.middleware.SdkKeyUsageMiddleware",
]

ROOT_URLCONF = "packedge.urls"
WSGI_APPLICATION = "packedge.wsgi.application"

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

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the console read while the ingestion endpoint writes; the busy
    # timeout turns brief writer contention into a wait instead of an error.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Optional streaming replica (docs/SCALING.md): read-only answers opt in through lib.replica.on_replica
# and fall back to the primary when it is down or more than REPLICA_MAX_LAG_SECONDS behind.
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)
# DATABASE_REPLICA_URLS: several replicas, comma-separated (aliases replica, replica_2, …); reads take turns.
_REPLICA_URLS = [url for url in env.list("DATABASE_REPLICA_URLS", default=[]) if url.strip()]
if env.str("DATABASE_REPLICA_URL", default=""):
    _REPLICA_URLS.insert(0, env.str("DATABASE_REPLICA_URL"))
READ_REPLICA = bool(_REPLICA_URLS)
READ_REPLICA_ALIASES = ["replica" if index == 0 else f"replica_{index + 1}" for index in range(len(_REPLICA_URLS))]
for _alias, _url in zip(READ_REPLICA_ALIASES, _REPLICA_URLS, strict=True):
    DATABASES[_alias] = env.db_url_config(_url.strip())
    DATABASES[_alias]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES[_alias]["CONN_HEALTH_CHECKS"] = True
    # Tests read the primary's test database through the alias, never a database of their own.
    DATABASES[_alias]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["lib.replica.ReplicaRouter"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The reach tables' unique constraints carry a covering column (INCLUDE) for index-only
    # scans on PostgreSQL. Django skips such constraints on SQLite, whose fold and rollup
    # paths do not rely on them (both are tested against naive oracles on both databases);
    # without this, every command on SQLite, `make run` included, prints the warning.
    SILENCED_SYSTEM_CHECKS = ["models.W039"]

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://packedge")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Without `collectstatic`, WhiteNoise serves straight from static/ (fine for the
# demo and tests); production runs collectstatic for hashed, compressed files.
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at: .*staticfiles")
WHITENOISE_MAX_AGE = env.int("STATIC_MAX_AGE", default=3600)

# Ingestion bodies: 64 KiB for one event, 1 MiB for a batch (README, API). Django's
# own limit must be at least the larger one or it would answer first.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024 + 1024

# OFREP configuration: how often a polling provider may refetch its bulk answer.
OFREP_MIN_POLLING_INTERVAL_MS = env.int("OFREP_MIN_POLLING_INTERVAL_MS", default=30_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenancy.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenancy.permissions.IsAuthenticatedWriter"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["lib.parsers.StrictJSONParser"],  # parse failures are 400s, never 500s
    "EXCEPTION_HANDLER": "lib.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# Requests per identity, counted by lib.ratelimit in the cache (shared by every
# worker when CACHE_URL points at Redis): ingestion per public key, OFREP per SDK key.
RATE_LIMITS = {
    "ingest": env.str("INGEST_RATE_LIMIT", default="1000/s"),
    "ofrep": env.str("OFREP_RATE_LIMIT", default="2000/s"),
    "flag_evaluations": env.str("FLAG_EVALUATIONS_RATE_LIMIT", default="100/s"),  # SDK count buckets, per SDK key
    # Failed sign-ins (console and admin), only failures count (tenancy.login_throttle): per username and
    # address pair, a slower cap per username from any address, and per address.
    "login": env.str("LOGIN_RATE_LIMIT", default="5/15min"),
    "login_user": env.str("LOGIN_USER_RATE_LIMIT", default="100/h"),
    "login_ip": env.str("LOGIN_IP_RATE_LIMIT", default="20/15min"),
    # Requests with unknown or malformed public keys (ingestion) and SDK keys (OFREP, buckets), per
    # client address (lib.ratelimit.INVALID_KEY_SCOPE); only such requests count and are refused.
    "invalid_key": env.str("INVALID_KEY_RATE_LIMIT", default="60/min"),
}
# Behind a reverse proxy (BEHIND_PROXY=1): trust its X-Forwarded-For for the client address and
# its X-Forwarded-Proto for HTTPS. Never set it when clients reach gunicorn directly: they could forge both.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)

# How long a worker process trusts what it looked up (lib.process_cache): a
# product's public key, an SDK key and an environment's flags. A change made in
# the same process is seen at once; other processes see it within this many seconds.
PRODUCT_CACHE_SECONDS = env.float("PRODUCT_CACHE_SECONDS", default=30.0)
FLAG_CONFIG_CACHE_SECONDS = env.float("FLAG_CONFIG_CACHE_SECONDS", default=1.0)
# While the database is unreachable, OFREP answers from the configuration a worker last loaded,
# for at most this many seconds after it expired (then 503 in OFREP's shape).
FLAG_STALE_SERVE_SECONDS = env.float("FLAG_STALE_SERVE_SECONDS", default=300.0)
# How each process records flag evaluations (flags/recording.py): "buffered" (batched INSERTs
# every FLUSH_MS or once BATCH rows wait, at most MAX_BUFFER rows kept while the database is
# down), "direct" (one INSERT per evaluation, only to compare in the benchmark) or "manual"
# (buffered, flushed only when called: tests).
FLAG_RECORDING_MODE = env.str("FLAG_RECORDING_MODE", default="buffered")
FLAG_RECORDING_FLUSH_MS = env.int("FLAG_RECORDING_FLUSH_MS", default=250)
FLAG_RECORDING_BATCH = env.int("FLAG_RECORDING_BATCH", default=2000)
FLAG_RECORDING_MAX_BUFFER = env.int("FLAG_RECORDING_MAX_BUFFER", default=200_000)

SPECTACULAR_SETTINGS = {
    "TITLE": "PackEdge API",
    "DESCRIPTION": "Feature-usage analytics and feature flags for software vendors.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # two enums are named "type": a flag's and an audit log actor's
    "ENUM_NAME_OVERRIDES": {
        "TypeEnum": "flags.models.Flag.Type",
        "AuditActorTypeEnum": "tenancy.models.AuditEntry.ActorType",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "events.public_apis.openapi_paths",  # ingestion is plain Django views (the hot path), described by hand
        "lib.openapi.envelope_and_errors",  # the {"data": …} envelope and the error responses of every /v1 operation
        "flags.ofrep_openapi.openapi_paths",  # OFREP: plain Django views too, described by hand
        "flags.openapi.openapi_paths",  # the OFREP configuration and the SDK's count buckets
        "flags.ofrep_tracking.openapi_paths",  # OpenFeature tracking events (POST /ofrep/v1/track)
    ],
}

# Browsers call /public/* from any origin (the JS SDK runs on customers' sites).
CORS_URLS_REGEX = r"^/public/.*$"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 86400
# The JS SDK honours Retry-After on 429/503: browsers hide it from cross-origin scripts unless exposed.
CORS_EXPOSE_HEADERS = ["Retry-After"]

# Off: ingestion commits asynchronously on PostgreSQL (SET LOCAL synchronous_commit),
# so it does not wait for the WAL flush; an acknowledged event can then be lost if the
# database server itself crashes in the next ~0.6 s. On by default: durable.
INGEST_SYNCHRONOUS_COMMIT = env.bool("INGEST_SYNCHRONOUS_COMMIT", default=True)

# Group commit of single events on PostgreSQL (events.group_commit, docs/ingestion-group-commit.md):
# concurrent requests of one process wait at most this long for one shared INSERT and COMMIT,
# or until GROUP_COMMIT_MAX_EVENTS have joined. 0: each request commits alone.
GROUP_COMMIT_WAIT_MS = env.float("GROUP_COMMIT_WAIT_MS", default=2.0)
GROUP_COMMIT_MAX_EVENTS = env.int("GROUP_COMMIT_MAX_EVENTS", default=64)

# Seconds a client is told to wait when the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = env.int("DATABASE_RETRY_AFTER_SECONDS", default=5)

# Where the SDK snippets shown in the console point (e.g. https://edge.example.net). Unset:
# the address the console itself was opened at (lib.base_url), so that a pasted snippet
# reaches the server that showed it.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")

# Invitations are mailed only when EMAIL_URL is set (django-environ's email URL:
# smtp+tls://user:pass@host:587, consolemail://, ...); without it the owner copies the link shown once.
INVITATION_EMAIL_ENABLED = bool(env.str("EMAIL_URL", default=""))
if INVITATION_EMAIL_ENABLED:
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="PackEdge <noreply@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# HTTPS deployments (HTTPS=1): redirect http to https, tell browsers to keep to https (HSTS),
# send cookies only over https. Behind a TLS-terminating proxy, BEHIND_PROXY=1 makes Django
# trust its X-Forwarded-Proto (the proxy must set it, and clients must not reach gunicorn directly).
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery (issue 9): background jobs such as the Feature Usage fold and the time-zone recount.
# With no broker, every task runs in-process at the call (eager), so `make run` and the
# SQLite tests need nothing else; production sets CELERY_BROKER_URL=redis://… and runs
# `python manage.py worker` beside the web server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://localhost/"  # never used (tasks run at the call); keeps kombu from guessing a host
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves it for another: tasks are idempotent
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds between two folds of the event stream into the Feature Usage counters.
FEATURE_USAGE_FOLD_EVERY = env.float("FEATURE_USAGE_FOLD_EVERY", default=1.0)
# A recount whose worker shows no sign of life (a chunk committed) for this many seconds
# is taken to have lost its worker; the beat looks for such recounts this often.
RECOUNT_STALE_SECONDS = env.float("RECOUNT_STALE_SECONDS", default=30.0)
RECOUNT_SWEEP_EVERY = env.float("RECOUNT_SWEEP_EVERY", default=5.0)
# Seconds between two folds of today's flag evaluations (flags/fold.py): what a read of today
# adds from the raw rows is at most about this many seconds of evaluations.
FLAG_FOLD_EVERY = env.float("FLAG_FOLD_EVERY", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "fold-events": {
        "task": "analytics.tasks.fold_events",
        "schedule": FEATURE_USAGE_FOLD_EVERY,
        # No "expires": a tick sends a message only while none waits (analytics.tasks.fold_claim), and
        # that one must run, not expire behind a long fold (its claim would block the next ones).
    },
    # Recovery from a worker that died mid-recount (issue 25): re-enqueue recounts gone quiet.
    "sweep-abandoned-recounts": {
        "task": "analytics.tasks.sweep_abandoned_recounts",
        "schedule": RECOUNT_SWEEP_EVERY,
        "options": {"expires": RECOUNT_SWEEP_EVERY * 2},
    },
    # Installs analytics: its own fold of the lifecycle events, as often as Feature Usage's.
    "fold-installs": {
        "task": "analytics.tasks.fold_installs",
        "schedule": FEATURE_USAGE_FOLD_EVERY,
        "options": {"expires": max(FEATURE_USAGE_FOLD_EVERY * 5, 5)},
    },
    "rollup-flag-usage": {"task": "flags.tasks.rollup_flag_usage", "schedule": crontab(hour=0, minute=20)},
    "fold-flag-evaluations": {
        "task": "flags.tasks.fold_flag_evaluations",
        "schedule": FLAG_FOLD_EVERY,
        "options": {"expires": max(FLAG_FOLD_EVERY * 2, 5)},
    },
    # Keeps the event partitions ready and applies the retention (EVENT_* below).
    "maintain-event-partitions": {"task": "events.tasks.maintain_event_partitions", "schedule": 6 * 3600.0},
}

# Scale-out (issue 10). Events are kept this many days (whole months are dropped
# once all of their days are older; Feature Usage keeps answering from its counters),
# and the worker keeps this many months of event partitions ready ahead of time.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=400)
EVENT_PARTITION_MONTHS_AHEAD = env.int("EVENT_PARTITION_MONTHS_AHEAD", default=3)
# The worker keeps them ("maintain-event-partitions" in CELERY_BEAT_SCHEDULE above).
# With Redis, lib.ratelimit counts in each process and adds to the shared count in batches:
# after this share of a limit's allowance or this many seconds, whichever comes first. Across
# N web processes a limit can be exceeded by at most N × the share (README, "Scale-out").
RATE_LIMIT_LOCAL_SHARE = env.float("RATE_LIMIT_LOCAL_SHARE", default=0.01)
RATE_LIMIT_SYNC_SECONDS = env.float("RATE_LIMIT_SYNC_SECONDS", default=0.1)
