"""Reprise settings, read from the environment.

Defaults run everything on a laptop with no servers: an SQLite file, kombu's
filesystem broker and a local-memory cache. Production sets DATABASE_URL,
CELERY_BROKER_URL and REDIS_URL (see README.md).
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from .env import database_from_url, env_bool, env_float, env_int, env_list, env_str, parse_hosts, sqlite_database

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("REPRISE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789")
DEBUG = env_bool("DEBUG", default=not os.environ.get("SECRET_KEY"))
# The DEBUG error page, which shows a lone surrogate as its escape instead of failing to encode it.
DEFAULT_EXCEPTION_REPORTER = "config.debug.EncodableExceptionReporter"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "runs",
    "mappings",
    "replay",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files, before anything that would touch the session
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.csp",
                "runs.web.context_processors.workspaces",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(env_str("DATABASE_URL"), VAR_DIR / "reprise.sqlite3")
    if env_str("DATABASE_URL")
    else sqlite_database(VAR_DIR / "reprise.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Shared between web processes, so the replay quota is exact across them.
    # A Redis that does not answer fails a call within REDIS_TIMEOUT (a quota, a long poll's wake), never hangs it.
    REDIS_TIMEOUT = env_float("REDIS_TIMEOUT", 2.0)
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]  # Django's RedisCache: add + incr are atomic.
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Embedded default only: one web process, so a per-process counter is exact.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves what collectstatic (run by `make run`) put in STATIC_ROOT, gzip-compressed, under hashed
# names with a far-future immutable Cache-Control; with DEBUG on too, so `make run` behaves as production does
# (an edit under static/ shows after the next collectstatic, i.e. the next `make run`).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "config.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False

# Request size limits: API bodies beyond this are refused with 413/400, never parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 3000
# An edited trigger payload in a replay request, as serialized JSON (a larger one is refused with 413).
REPLAY_PAYLOAD_MAX_BYTES = env_int("REPLAY_PAYLOAD_MAX_BYTES", 256 * 1024)

# Security headers. No inline script anywhere: page scripts live in static/.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
# Proxies in front that append to X-Forwarded-For: the client address is the entry this far from the right.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_COUNT={TRUSTED_PROXY_COUNT} must be 0 or more.")
RATELIMIT_IP_META_KEY = "runs.http.client.client_address"

# Celery. The default broker needs no server: kombu's filesystem transport under var/.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("out", "processed", "control", "staging"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"  # messages appear whole: see config/broker.py
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "staging_folder": str(BROKER_DIR / "staging"),
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.01,  # a directory listing every 10 ms: cheap, and the queue wait stays ~5 ms
    }
else:
    if CELERY_BROKER_URL.startswith("redis://"):
        CELERY_BROKER_TRANSPORT = "config.broker:RedisTransport"  # one client per pool: see config/broker.py
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A run spends nearly all its time waiting on a provider: a worker process executes runs in threads, where
# waiting is cheap. Each executing thread holds one database connection, and the process one more for the
# heartbeat of long calls: a worker process uses at most CELERY_WORKER_CONCURRENCY + 2 (see the README).
CELERY_WORKER_POOL = env_str("CELERY_WORKER_POOL", "threads")
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 32)
# Enforced by the prefork pool only; in threads a call is bounded by PROVIDER_TIMEOUT and HTTP_TOOL_TIMEOUT.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Publishing must not hang a web request when the broker is down: the run stays
# pending and the sweep dispatches it once the broker is back.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_TASK_PUBLISH_RETRY = False
# Celery's Django fixup closes the database connection around every task: a new PostgreSQL backend
# per run, 7 ms of a 40 ms replay. Keep it instead, as Django does across requests: runs/tasks.py
# checks it before each task (CONN_MAX_AGE, CONN_HEALTH_CHECKS) and drops it after a task that failed.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)

# Runs: the sweep finds runs whose worker was lost.
RUN_SWEEP_INTERVAL = env_float("RUN_SWEEP_INTERVAL", 10.0)
RUN_STALE_AFTER = env_float("RUN_STALE_AFTER", 120.0)
RUN_PENDING_REDISPATCH_AFTER = env_float("RUN_PENDING_REDISPATCH_AFTER", 15.0)
# On SIGTERM a worker hands each run on at its next step boundary (runs/tasks.py): past this many seconds it waits
# only for the calls still in progress, then exits, leaving anything else to the sweep.
WORKER_DRAIN_SECONDS = env_float("WORKER_DRAIN_SECONDS", 30.0)
# Steps of one run executing at once (independent branches); 1 executes one step at a time in the version's order.
RUN_MAX_PARALLEL = env_int("RUN_MAX_PARALLEL", 8)
if RUN_MAX_PARALLEL < 1:
    raise ImproperlyConfigured(f"RUN_MAX_PARALLEL={RUN_MAX_PARALLEL} must be 1 or more.")
# Retention: finished runs are deleted this many days after they finished (runs/retention.py). Unset keeps every run.
RUN_RETENTION_DAYS: int | None = env_int("RUN_RETENTION_DAYS", 0) if env_str("RUN_RETENTION_DAYS").strip() else None
if RUN_RETENTION_DAYS is not None and RUN_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        f"RUN_RETENTION_DAYS={RUN_RETENTION_DAYS} must be 1 or more (leave it unset to keep every run)."
    )
RUN_PRUNE_INTERVAL = env_float("RUN_PRUNE_INTERVAL", 3600.0)

# Providers. Without a key the deterministic simulator answers (labelled "simulated").
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env_str("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "https://api.openai.com/v1")
# Through the official SDKs: seconds per attempt, and the SDK's retries (429, 5xx, timeouts; Retry-After honoured).
PROVIDER_TIMEOUT = env_float("PROVIDER_TIMEOUT", 60.0)
PROVIDER_MAX_RETRIES = env_int("PROVIDER_MAX_RETRIES", 3)
# An http tool call's whole time (connect, redirects, every byte of the answer) and the answer's size at most.
HTTP_TOOL_TIMEOUT = env_float("HTTP_TOOL_TIMEOUT", 10.0)
HTTP_TOOL_MAX_BYTES = env_int("HTTP_TOOL_MAX_BYTES", 5 * 1024 * 1024)
# The http tools refuse loopback, link-local, private and other non-public addresses (runs/engine/outbound.py)
# except for the host names, addresses and CIDR blocks listed here.
# Long polls of GET …/runs/<run_id>?wait= waiting at once per web process: half its gthread threads (WEB_THREADS).
LONG_POLL_WAITERS = max(1, env_int("WEB_THREADS", 8) // 2)
# The longest a long poll really waits (seconds, at most 30, what ?wait= accepts): lower it where a client's
# read timeout is shorter (the contract tests' 10 s).
LONG_POLL_MAX_WAIT = min(30, env_int("LONG_POLL_MAX_WAIT", 30))
# Webhooks: each attempt's deadline, the first retry's delay (doubled each time), and how long deliveries are retried
# (and an endpoint may fail before it is disabled).
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 10.0)
WEBHOOK_RETRY_BASE = env_float("WEBHOOK_RETRY_BASE", 5.0)
WEBHOOK_RETRY_FOR = env_int("WEBHOOK_RETRY_FOR", 24 * 3600)
# Beat's sweep queues again a pending delivery due for this long (its message was lost), every this many seconds.
WEBHOOK_OVERDUE_AFTER = env_int("WEBHOOK_OVERDUE_AFTER", 120)
WEBHOOK_SWEEP_INTERVAL = env_float("WEBHOOK_SWEEP_INTERVAL", 60.0)
TOOL_HTTP_ALLOWED_HOSTS = parse_hosts("TOOL_HTTP_ALLOWED_HOSTS", env_str("TOOL_HTTP_ALLOWED_HOSTS"))
# Seconds the simulator waits before answering, to mimic a provider's latency in demos and soak tests.
SIMULATED_LATENCY = env_float("SIMULATED_LATENCY", 0.0)

# OTLP push of finished runs' traces (runs.tasks.export_run_trace): the standard variables. Unset, nothing is sent
# and nothing of OpenTelemetry is imported. The exporter itself reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, etc.
OTLP_TRACES_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").strip() or (
    env_str("OTEL_EXPORTER_OTLP_ENDPOINT").strip().rstrip("/") + "/v1/traces"
    if env_str("OTEL_EXPORTER_OTLP_ENDPOINT").strip()
    else ""
)
# Prompts, outputs, tool arguments and results in exported traces (pushed or downloaded): off by default.
OTEL_EXPORT_CONTENT = env_bool("OTEL_EXPORT_CONTENT", False)

# Replay limits (product page: 20 per minute per workspace, depth 5, 1000 pairs).
REPLAY_QUOTA_RATE = env_str("REPLAY_QUOTA_RATE", "20/m")
REPLAY_MAX_DEPTH = env_int("REPLAY_MAX_DEPTH", 5)
MAPPING_MAX_PAIRS = env_int("MAPPING_MAX_PAIRS", 1000)
# Replay cohorts (issue 31): members per cohort, the share of the per-minute replay quota all cohorts together may
# take (the rest stays for the operators' own replays), running cohorts per workspace, and the admission tick.
COHORT_MAX_MEMBERS = env_int("COHORT_MAX_MEMBERS", 10_000)
REPLAY_COHORT_SHARE = env_float("REPLAY_COHORT_SHARE", 0.75)
COHORT_MAX_RUNNING = env_int("COHORT_MAX_RUNNING", 3)
COHORT_TICK_INTERVAL = env_float("COHORT_TICK_INTERVAL", 2.0)
# A suggested target for a renamed node is preselected in the mapping dialog from this confidence (issue 32).
MAPPING_SUGGEST_MIN = env_float("MAPPING_SUGGEST_MIN", 0.9)
# Characters of each output the compare view diffs; beyond, the page says where the diff stops.
COMPARE_DIFF_MAX_CHARS = env_int("COMPARE_DIFF_MAX_CHARS", 200_000)
LOGIN_RATE = env_str("LOGIN_RATE", "10/m")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # The provider SDKs' HTTP client logs every request at INFO: one line per LLM step is noise in a worker.
    "loggers": {"django.db.backends": {"level": "INFO"}, "httpx2": {"level": "WARNING"}},
}

CELERY_BEAT_SCHEDULE = {
    "sweep-stale-runs": {"task": "runs.tasks.sweep_stale_runs", "schedule": RUN_SWEEP_INTERVAL},
    "cohort-tick": {"task": "replay.tasks.cohort_tick", "schedule": COHORT_TICK_INTERVAL},
    "sweep-webhook-deliveries": {"task": "webhooks.tasks.sweep_deliveries", "schedule": WEBHOOK_SWEEP_INTERVAL},
}
if RUN_RETENTION_DAYS is not None:
    CELERY_BEAT_SCHEDULE["prune-old-runs"] = {"task": "runs.tasks.prune_old_runs", "schedule": RUN_PRUNE_INTERVAL}
