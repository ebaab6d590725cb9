"""Scaleboard settings, read from the environment (see the README's table).

With no environment at all this is the embedded default: SQLite under `var/`, the
in-memory channel layer and Celery's memory transport. `DATABASE_URL` and `REDIS_URL`
switch to PostgreSQL and Redis; `HTTPS=true` turns on the production security headers.
"""

from __future__ import annotations

import os
import secrets
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from dashboard.env import (
    ImproperSetting,
    envbool,
    envfloat,
    envint,
    envlist,
    envstr,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("SCALEBOARD_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = envbool("DEBUG", False)


def _private_dir(path: Path) -> None:
    """Create `path` (and parents) readable by its owner only, if it is missing."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _private_file(path: Path, text: str = "") -> None:
    """Create `path` with mode 0600 if it is missing; tighten it if others may read it.

    `os.open` with the mode, not write-then-chmod: between those two steps the file
    would be readable by anyone for a moment.
    """
    _private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/.

    The generated key is per machine: fine for `make run`, wrong for several servers
    (sessions signed on one are refused by the next), so `check --deploy` refuses it
    (dashboard/checks.py).
    """
    key = envstr("SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    _private_file(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY_FROM_ENV = bool(envstr("SECRET_KEY"))
SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "axes",
    "csp",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    # django-ninja: the HTTP API (dashboard/api); listed for its bundled Swagger UI
    # static files, which the API's docs page serves (no CDN under the CSP).
    "ninja",
    "dashboard.accounts",
    "dashboard.teams",
    "dashboard.scenarios",
    "dashboard.runs",
    "dashboard.sharing",
    "dashboard.reviews",
    "dashboard.api",
    "dashboard.sweeps",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.private_cache",
    "dashboard.middleware.DebugPagesForLocalAccount",
    # After the debug pages: its process_exception runs first (a 503, not a 500).
    "dashboard.serving.ShedOnPoolTimeout",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"

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
                "dashboard.context_processors.site",
                "dashboard.reviews.context_processors.inbox",
            ],
        },
    },
]

WSGI_APPLICATION = "dashboard.wsgi.application"
ASGI_APPLICATION = "dashboard.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'scaleboard.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Runs write snapshots while pages read them: WAL and a busy timeout keep the
    # embedded default from "database is locked" errors.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # `make test` runs shards at once (tests/shards.py): one test file each
    _shard = os.environ.get("SCALEBOARD_TEST_SHARD", "")
    _test_file = f"test-{_shard}.sqlite3" if _shard.isidentifier() else "test.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / _test_file)}
    if str(DATABASES["default"]["NAME"]) != ":memory:":
        # SQLite creates its file (and its -wal/-shm files, which copy the main
        # file's mode) world-readable under the usual umask: create it 0600 first.
        _sqlite = Path(DATABASES["default"]["NAME"])
        _private_file(_sqlite)
        for _extra in (_sqlite.with_name(_sqlite.name + s) for s in ("-wal", "-shm")):
            if _extra.exists():  # left by an earlier start, perhaps world-readable
                _private_file(_extra)

# --- Serving: bounded database connections and requests in flight ------------------
# Web processes (dashboard.asgi sets DB_POOL=true for itself) share a psycopg pool of
# at most DB_POOL_MAX PostgreSQL connections per process; a request that waits longer
# than DB_POOL_TIMEOUT_S for one is answered 503 with Retry-After, never 500. Workers
# and manage.py commands connect per use (one connection per worker process). At most
# WEB_MAX_IN_FLIGHT page requests run at once per process (each on its own thread with
# one connection); up to WEB_QUEUE_MAX more wait, each for WEB_QUEUE_TIMEOUT_S at most;
# past that they are shed with 503 and Retry-After. The connections a WebSocket's
# handshake and backlog need come from WS_DB_THREADS threads of their own, within the
# pool's room above WEB_MAX_IN_FLIGHT (docs/operations.md, "Serving").
DB_POOL = envbool("DB_POOL", False)
DB_POOL_MIN = envint("DB_POOL_MIN", 2, minimum=0)
DB_POOL_MAX = envint("DB_POOL_MAX", 8, minimum=2)
DB_POOL_TIMEOUT_S = envint("DB_POOL_TIMEOUT_S", 5, minimum=1)
WS_DB_THREADS = envint("WS_DB_THREADS", 2, minimum=1)
WEB_MAX_IN_FLIGHT = envint(
    "WEB_MAX_IN_FLIGHT", max(1, DB_POOL_MAX - WS_DB_THREADS - 2), minimum=1
)
# While WebSocket handshakes are pending in a process, at most this many pages run
# there (pages already running finish): a burst of viewers is accepted at once.
WEB_MAX_IN_FLIGHT_DURING_HANDSHAKES = envint(
    "WEB_MAX_IN_FLIGHT_DURING_HANDSHAKES", 1, minimum=1
)
WEB_QUEUE_MAX = envint("WEB_QUEUE_MAX", 64, minimum=0)
# How long a thread holding the GIL runs before another may take it, in a web process
# (CPython's default is 5 ms): the event loop, which answers /healthz, accepts
# sockets and hands pages to threads, waits at most this long behind a page thread.
WEB_GIL_SWITCH_MS = envint("WEB_GIL_SWITCH_MS", 1, minimum=1)
WEB_QUEUE_TIMEOUT_S = envint("WEB_QUEUE_TIMEOUT_S", 10, minimum=1)
WEB_RETRY_AFTER_S = 2
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL:
    if WEB_MAX_IN_FLIGHT + WS_DB_THREADS > DB_POOL_MAX:
        raise ImproperSetting(
            f"WEB_MAX_IN_FLIGHT + WS_DB_THREADS ({WEB_MAX_IN_FLIGHT} + {WS_DB_THREADS})"
            f" must not exceed DB_POOL_MAX ({DB_POOL_MAX}): each holds a connection"
        )
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperSetting(
            "DB_CONN_MAX_AGE must be 0 with DB_POOL (the pool keeps them)"
        )
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(DB_POOL_MIN, DB_POOL_MAX),
        "max_size": DB_POOL_MAX,
        "timeout": DB_POOL_TIMEOUT_S,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Accounts: login throttling (django-axes) ---------------------------------------
# After LOGIN_FAILURE_LIMIT failed logins for one username, or from one address (any
# usernames), further attempts are refused with the lockout page for
# LOGIN_LOCKOUT_MINUTES, the right password included. Every failure is logged (axes'
# log lines and its AccessAttempt/AccessFailureLog rows).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_LOCKOUT_CALLABLE = "dashboard.accounts.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "dashboard.accounts.throttle.client_ip"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# A lockout ends LOGIN_LOCKOUT_MINUTES after the failure that caused it: attempts
# refused meanwhile do not extend it (else whoever hammers a username keeps its owner
# out for good), so the lockout page can say exactly when to try again.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Log lines name the username and the address (passwords are always masked).
AXES_SENSITIVE_PARAMETERS: list[str] = []
# Behind N reverse proxies that each append to X-Forwarded-For, the client's address is
# the N-th entry from the right; 0 trusts REMOTE_ADDR only (a forged header is ignored).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0, minimum=0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "scenario_list"
LOGOUT_REDIRECT_URL = "login"
SIGNUP_ENABLED = envbool("SIGNUP_ENABLED", True)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the source folders: `make run` needs no collectstatic step
# (whitenoise then warns that STATIC_ROOT does not exist: expected, so silenced).
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at")

# --- Security: HTTPS=true in production (behind TLS) -------------------------------
HTTPS = envbool("HTTPS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp): scripts only from our own static files (the
# vendored libraries and htmx from django-htmx); no inline script, no eval.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        # Style sheets only from our files. Style *attributes* stay allowed: the report
        # and the progress bar draw their widths with `style="width: N%"`, and an
        # attribute cannot run script. (Cytoscape's own <style> element is replaced by
        # static/css/designer.css, see the id on its <link>; htmx's by app.css.)
        "style-src": [SELF],
        "style-src-elem": [SELF],
        "style-src-attr": ["'unsafe-inline'"],
        # PNG export and Cytoscape's canvas textures use data: and blob: URLs.
        "img-src": [SELF, "data:", "blob:"],
        # 'self' matches ws:/wss: of the page's own host and port (CSP Level 3).
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if HTTPS:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Redis, Channels and Celery -----------------------------------------------------
REDIS_URL = envstr("REDIS_URL")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 500, "expiry": 30},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_TIME_LIMIT = envint("RUN_TIME_LIMIT_S", 900, minimum=10) + 30
CELERY_TASK_SOFT_TIME_LIMIT = envint("RUN_TIME_LIMIT_S", 900, minimum=10)

# One process for `make run`: a Celery worker thread inside the ASGI server.
EMBEDDED_WORKER = envbool("EMBEDDED_WORKER", False)

# --- Cache: Redis with REDIS_URL (shared by every process), else local memory -----
# Holds the API's per-token request counts (dashboard/api/ratelimit.py): with Redis
# the limit holds across web processes and machines; in local memory it is per
# process (the embedded default, one process).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "scaleboard",
            "TIMEOUT": 300,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- The HTTP API (dashboard/api, docs/api.md) ---------------------------------------
# Requests one token may make per minute (a fixed one-minute window); more are
# answered 429 with Retry-After.
API_RATE_PER_MINUTE = envint("API_RATE_PER_MINUTE", 120, minimum=1)

# --- Runs --------------------------------------------------------------------------
RUN_TIME_LIMIT_S = envint("RUN_TIME_LIMIT_S", 900, minimum=10)
RUN_HEARTBEAT_S = 1.0
RUN_STALE_AFTER_S = envint("RUN_STALE_AFTER_S", 15, minimum=3)
RUN_MAX_ATTEMPTS = envint("RUN_MAX_ATTEMPTS", 2, minimum=1)
RUN_REAP_INTERVAL_S = envint("RUN_REAP_INTERVAL_S", 5, minimum=1)
RUN_REQUEUE_AFTER_S = envint("RUN_REQUEUE_AFTER_S", 120, minimum=5)
# A run of N > 1 replications is N Celery tasks (RunPart rows), one per replication,
# spread over the workers (docs/operations.md, "Replications over the workers").
RUN_FANOUT = envbool("RUN_FANOUT", True)
RUNS_ACTIVE_PER_USER = envint("RUNS_ACTIVE_PER_USER", 4, minimum=1)
# Sweeps (dashboard/sweeps, docs/sweeps.md): points one sweep may run at most (both
# series of an A/B sweep together), and queued + running sweeps per user. A sweep's
# point runs do not count against RUNS_ACTIVE_PER_USER.
SWEEP_MAX_POINTS = envint("SWEEP_MAX_POINTS", 50, minimum=1)
SWEEPS_ACTIVE_PER_USER = envint("SWEEPS_ACTIVE_PER_USER", 2, minimum=1)
RUN_MAX_EVENTS = envint("RUN_MAX_EVENTS", 50_000_000, minimum=1000)
# Every snapshot of a run is stored and drawn on its page.
RUN_MAX_SNAPSHOTS = envint("RUN_MAX_SNAPSHOTS", 10_000, minimum=10)
# A finished run is "degraded" (its verdict, dashboard/runs/verdicts.py) when more
# than this share of its offered requests failed: errors, timeouts and rejections.
RUN_DEGRADED_ERROR_RATE = envfloat(
    "RUN_DEGRADED_ERROR_RATE", 0.01, minimum=0.0, maximum=1.0
)
# Live what-if (dashboard/runs/whatif_services.py): injections one run takes at most,
# and the least time between two by one user.
RUN_MAX_INJECTIONS = envint("RUN_MAX_INJECTIONS", 50, minimum=1)
RUN_INJECTION_INTERVAL_S = 1.0
# Live snapshots reach browsers at most this many times per wall-clock second.
RUN_SNAPSHOT_MESSAGES_PER_S = 10
# A browser catching up gets stored snapshots in pages of at most this many items and
# about this many bytes of JSON (far below Daphne's 1 MiB frame limit); further behind
# than RUN_RESYNC_PREVIEW_BEHIND it first gets a downsampled outline.
RUN_RESYNC_PAGE_ITEMS = envint("RUN_RESYNC_PAGE_ITEMS", 500, minimum=10)
RUN_RESYNC_PAGE_BYTES = envint("RUN_RESYNC_PAGE_BYTES", 256 * 1024, minimum=16 * 1024)
RUN_RESYNC_PREVIEW_BEHIND = 2000
# How often a run socket re-checks that its login session still exists.
RUN_SESSION_CHECK_S = 10
# Presence (RunViewer rows): a browser pings every RUN_PRESENCE_PING_S; a row not
# refreshed for RUN_PRESENCE_STALE_S (a killed server leaves its rows) is ignored.
RUN_PRESENCE_PING_S = 30
RUN_PRESENCE_STALE_S = envint("RUN_PRESENCE_STALE_S", 120, minimum=10)
# At most one seen_at write per socket this often, however often it pings.
RUN_PRESENCE_WRITE_S = 10

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
