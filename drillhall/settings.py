"""Django settings: everything comes from the environment (12-factor)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url

from drillhall.env import (
    SettingError,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_str,
    env_token,
    state_dir,
)
from drillhall.secret_key import load_secret_key
from drills.engine.alertmanager import base_url as alertmanager_base_url
from injector.credentials import credentials_dir, server_redis_url
from injector.protocol import REGISTER_QUEUE
from verifier.probes.secret_refs import SecretError, SecretStore

BASE_DIR = Path(__file__).resolve().parent.parent

# SECRET_KEY or SECRET_KEY_FILE, else this checkout's var/secret-key (written by `make setup`);
# a missing, public or weak key stops the start (drillhall/secret_key.py says why).
SECRET_KEY = load_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# DRILLHALL_HTTPS=true: served to browsers over HTTPS only, through a proxy that terminates TLS.
# Off by default, as the demo and a laptop serve plain HTTP on loopback. Parsed whether on or
# off, so that a bad value stops the start either way.
DRILLHALL_HTTPS = env_bool("DRILLHALL_HTTPS", False)
# A year: the usual value once HTTPS works. Browsers only heed the header on HTTPS responses, so
# nothing happens before the proxy serves them; lower it (3600) while trying HTTPS out.
_hsts_seconds = env_int("DRILLHALL_HSTS_SECONDS", 365 * 24 * 3600)
# Preloading writes the whole registered domain into browsers for months: the domain owner's
# decision, not an app's. Off unless asked.
_hsts_preload = env_bool("DRILLHALL_HSTS_PRELOAD", False)
if DRILLHALL_HTTPS:
    # The proxy speaks plain HTTP to daphne and says "X-Forwarded-Proto: https". It must
    # overwrite a header of that name from the client, or anyone could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _hsts_seconds
    # Drillhall gets a host name of its own (drillhall.example.com): names under it have no
    # reason to speak plain HTTP, and the header never reaches the parent domain.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = _hsts_preload
    if not SECURE_HSTS_PRELOAD:
        # Django's reminder to preload (W021) asks for what is left to the domain's owner above.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    # No "daphne" app: it only replaces `runserver`, which nothing here uses (the server is
    # `python -m daphne`, drills/cli/workers.py), and loading it imported Twisted into every
    # process, agents and CLI commands included: about 0.3 s each.
    "drills.web.apps.DrillhallAdminConfig",  # django.contrib.admin, for the admin role only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    # Beat's schedule in the database (drills/web/gameday_clock.py): one interval task, the
    # game-day clock; the schedules themselves are the game days' documents.
    "django_celery_beat",
    # The REST API (/api/v1/, drills/web/api/) and its OpenAPI schema.
    "rest_framework",
    "drf_spectacular",
    "drills.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a login refused for too many failures into a 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "drillhall.urls"
ASGI_APPLICATION = "drillhall.asgi.application"

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

STATE_DIR = state_dir()
_default_db = (
    f"sqlite:///{env_str('DRILLHALL_SQLITE_PATH', str(BASE_DIR / 'var' / 'drillhall.sqlite3'))}"
)
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_db))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Workers write events while the web server reads: WAL and a generous busy
    # timeout keep SQLite from "database is locked" under that mix.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests too use a file in WAL mode, not Django's in-memory default: its shared cache
    # locks whole tables, so a reader beside the group-commit writer (drills/web/group_commit.py)
    # failed at once with "table is locked", which a real database never does.
    _db_name = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(_db_name.with_name(f"test-{_db_name.name}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Passwords and keys, one file each (injector/credentials.py): Redis users' passwords, and
# agents/<host>/hmac.key with which the orchestrator signs what it sends each agent
# (injector/signing.py), made by enrolment or, for the lab's and `drillhall run`'s own agents,
# when they are started (docs/agent-channel.md). `make setup` writes the passwords. The default
# is the machine's (/var/lib/drillhall/credentials for root), since Redis outlives checkouts.
DRILLHALL_CREDENTIALS_DIR = credentials_dir()
# Redis is reached as the user "drillhall": a REDIS_URL that names no user gets it, and its
# password, from the credentials directory (never from the environment, where `ps e` shows it).
REDIS_URL = server_redis_url(
    env_str("REDIS_URL", "redis://127.0.0.1:6379/0"), DRILLHALL_CREDENTIALS_DIR
)

# The cache holds the failed-login counts below. On Redis, so that the web processes share them
# and a restart does not wipe them (the tests use one in memory: tests/web/conftest.py).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "drillhall",
    }
}

# The channel layer's sockets have no socket timeout:
# - A live page waits for its run's events with a blocking pop of 5 s (channels-redis). With
#   redis-py 8's default 5 s socket timeout, a page idle for 5 s (a paused run, a long wait
#   step) had its read time out and its socket closed.
# - With any socket timeout, redis-py sends through asyncio.wait_for, and Python 3.11's
#   wait_for loses a cancellation that lands as the send completes. A page that closed at that
#   moment left its receive looping on the blocking pop for ever (gh-86296, fixed in 3.12).
# A Redis that restarts closes the sockets; TCP keepalive gives up on a peer that vanished
# after 10 s idle and 3 probes 5 s apart.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": None,
                    "socket_keepalive": True,
                    "socket_keepalive_options": {
                        socket.TCP_KEEPIDLE: 10,
                        socket.TCP_KEEPINTVL: 5,
                        socket.TCP_KEEPCNT: 3,
                    },
                }
            ]
        },
    }
}

# Celery: JSON only, late acks, one message at a time per worker process.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The queue orchestrator workers consume. They consume the agents' registrations too, from a
# queue of their own: an agent's Redis user may push there, never to the orchestrator's queue.
DRILLHALL_ORCHESTRATOR_QUEUE = env_str("DRILLHALL_ORCHESTRATOR_QUEUE", "orchestrator")
DRILLHALL_REGISTER_QUEUE = REGISTER_QUEUE
CELERY_TASK_DEFAULT_QUEUE = DRILLHALL_ORCHESTRATOR_QUEUE
# At most this many runs are in progress at once; beyond it runs wait in a visible queue, in
# the order they were created (drills/engine/admission.py, docs/concurrency.md).
DRILLHALL_MAX_RUNS = env_int("DRILLHALL_MAX_RUNS", 100, minimum=1)
# Threads of an orchestrator worker: each run it drives holds one for its whole length (a run
# mostly waits, so a thread per run costs memory, not CPU). By default one per admitted run,
# and a few for the short tasks that share the queue (a queued run's look, game-day ticks,
# notifications), so no run that admission lets start sits behind a busy worker.
DRILLHALL_ORCHESTRATOR_CONCURRENCY = env_int(
    "DRILLHALL_ORCHESTRATOR_CONCURRENCY", DRILLHALL_MAX_RUNS + 8, minimum=1
)
# Orchestrator worker processes on this machine (`make demo`, the bench, the systemd template
# unit's instances): by default one per core. A process's threads share one GIL, and with a
# hundred runs the thread that stores and publishes every run's events waited for it behind
# all the others; two processes on 2 cores kept the event lag of 100 drills at p99 65-142 ms
# where one was at 132-366 ms (docs/performance.md, "Many drills at once"). Admission is
# decided in the database, so the processes share DRILLHALL_MAX_RUNS.
DRILLHALL_ORCHESTRATOR_PROCESSES = env_int(
    "DRILLHALL_ORCHESTRATOR_PROCESSES", len(os.sched_getaffinity(0)), minimum=1
)
# How long a thread of an orchestrator worker may hold Python's GIL while another waits for
# it, in microseconds (Python's own default is 5000). Every run's writes and live events go
# through one writer thread that gives the GIL up at every SQLite or Redis call, and behind a
# hundred runs' threads each of those calls waited to get it back. Shorter hands it back
# sooner, and costs more switching: 100 starved the runs (docs/performance.md, "Many drills
# at once").
DRILLHALL_ORCHESTRATOR_SWITCH_INTERVAL_US = env_int(
    "DRILLHALL_ORCHESTRATOR_SWITCH_INTERVAL_US", 2000, minimum=50
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Game days (drills/web/gameday_clock.py): beat's clock looks at every schedule this often, and
# a fire time found up to DRILLHALL_GAMEDAY_ON_TIME_SECONDS late still counts as on time (later
# than that it was missed: skipped, or caught up within the schedule's starting deadline).
DRILLHALL_GAMEDAY_TICK_SECONDS = env_float("DRILLHALL_GAMEDAY_TICK_SECONDS", 10.0)
DRILLHALL_GAMEDAY_ON_TIME_SECONDS = env_float("DRILLHALL_GAMEDAY_ON_TIME_SECONDS", 60.0)
# E-mail notifications go through Django's e-mail backend (SMTP unless EMAIL_BACKEND says).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", "")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "drillhall@localhost")

# Fault leases: an agent reverts a fault whose lease was not renewed in time.
DRILLHALL_LEASE_SECONDS = env_float("DRILLHALL_LEASE_SECONDS", 10.0)
# An orchestrator holds a liveness lease of this length for each run it drives; a run whose
# lease ran out is ended as "orchestrator lost" (drills/web/liveness.py).
DRILLHALL_RUN_LEASE_SECONDS = env_float("DRILLHALL_RUN_LEASE_SECONDS", 10.0)
# A pending run no orchestrator took is handed to the queue again after this long (its message
# may have been lost with a broker restart), and ended as error after DRILLHALL_PENDING_LIMIT.
DRILLHALL_REQUEUE_SECONDS = env_float("DRILLHALL_REQUEUE_SECONDS", 30.0)
DRILLHALL_PENDING_LIMIT_SECONDS = env_float("DRILLHALL_PENDING_LIMIT_SECONDS", 600.0)
# A run that faults protected hosts waits this long for another person's approval before it is
# ended as aborted (drills/web/approvals.py): a colleague can look the same working day, and the
# plan resolved when the run was created still describes the inventory.
DRILLHALL_APPROVAL_LIMIT_SECONDS = env_float("DRILLHALL_APPROVAL_LIMIT_SECONDS", 4 * 3600.0)
# Where people reach this server (https://drillhall.example.com), for links the command line
# prints; empty: it prints the path only.
DRILLHALL_URL = env_str("DRILLHALL_URL", "").rstrip("/")
# Whether the web server and orchestrator workers sweep for lost runs (tests that write a run's
# stream by hand turn it off).
DRILLHALL_REAPER = env_bool("DRILLHALL_REAPER", True)
# How often those processes put the halt back into Redis when Redis lost it (drills/web/halt_sync).
# How long GET /api/v1/runs/<id>/events/?wait= may hold a request open for a new event.
DRILLHALL_API_WAIT_MAX_SECONDS = env_float("DRILLHALL_API_WAIT_MAX_SECONDS", 30.0)
DRILLHALL_HALT_SYNC_SECONDS = env_float("DRILLHALL_HALT_SYNC_SECONDS", 3.0)

# The Alertmanager that drills silence their targets' alerts in while faults are on
# (drills/engine/silences.py, docs/deploy.md): its base URL, http(s)://host:port[/prefix], with
# user:password@ if it asks for them (then better from DRILLHALL_ALERTMANAGER_URL_FILE).
# Empty: nothing is silenced.
try:
    DRILLHALL_ALERTMANAGER_URL = alertmanager_base_url(env_str("DRILLHALL_ALERTMANAGER_URL", ""))
except ValueError as _exc:
    raise SettingError(f"DRILLHALL_ALERTMANAGER_URL: {_exc}") from None

# Secrets probes name instead of holding (verifier/probes/secret_refs.py, docs/probes.md):
# DRILLHALL_PROBE_SECRET_ENV lists the environment variables a canary's `dsn_env` may read,
# DRILLHALL_SECRETS_FILE names the secret store (JSON or TOML) its `secret` is looked up in.
# Both are read where a probe is built; a list naming a variable no probe may read (Drillhall's
# or Django's own) stops the start here.
try:
    SecretStore.from_environ()
except SecretError as _exc:
    raise SettingError(str(_exc)) from None

# /metrics for Prometheus (drills/web/metrics/, docs/metrics.md) is served only to addresses in
# DRILLHALL_METRICS_ALLOW (networks in CIDR notation; loopback by default) and, when
# DRILLHALL_METRICS_TOKEN (or DRILLHALL_METRICS_TOKEN_FILE) is set, only to requests that also
# carry "Authorization: Bearer <token>". Both must hold: "0.0.0.0/0,::/0" with a token is
# "token only"; a list without a token is "network only". Behind a proxy on the same machine
# every request comes from loopback: run daphne with --proxy-headers (README.md), or set a token.
DRILLHALL_METRICS_ALLOW = env_networks("DRILLHALL_METRICS_ALLOW", ["127.0.0.0/8", "::1/128"])
DRILLHALL_METRICS_TOKEN = env_token("DRILLHALL_METRICS_TOKEN", minimum=24)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: a login that is locked out is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Login rate limiting (django-axes, counting in the cache): after DRILLHALL_LOGIN_FAILURE_LIMIT
# failed logins for one username, or from one address, logins for that username or from that
# address are refused (429) until DRILLHALL_LOGIN_LOCKOUT_MINUTES pass without another failure.
# The login page and the admin's both go through authenticate(), so both are covered.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env_int("DRILLHALL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DRILLHALL_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Either one: by username against guessing one account's password from many addresses, by
# address against trying many accounts from one.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A user who mistyped and then got it right does not carry the mistakes into the next login.
AXES_RESET_ON_SUCCESS = True
# The client's address is REMOTE_ADDR only, never a header the client could write. Behind a
# proxy, daphne --proxy-headers puts the proxy's X-Forwarded-For there (README.md).
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_LOCKOUT_TEMPLATE = "registration/login_refused.html"
# Its admin pages list database records, which the cache handler never writes.
AXES_ENABLE_ADMIN = False
# Quiet: its start banner would open the output of every manage.py and drillhall command, and
# drills/web/logins.py logs each failed or refused login with what axes masks.
AXES_VERBOSE = False
# The REST API: a bearer token (drills/web/token_issuing.py) or the browser's session, which
# keeps its CSRF check; JSON only, errors as {"detail": sentence}
# (drills/web/api/error_responses.py).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "drills.web.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "drills.web.api.error_responses.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drills.web.api.schema_endpoint.DrillhallSchema",
    # ?format= is not content negotiation here: reports take their format from the path.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Drillhall API",
    "DESCRIPTION": "Drive drills from pipelines: playbooks, runs, reports, game days, halt. "
    "Authenticate with `Authorization: Bearer <token>` (docs/api.md).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The committed schema/openapi.yaml must not change with the machine that wrote it.
    "SORT_OPERATIONS": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStateEnum": "drills.web.api.serializers.RUN_STATES",
        "GameDayStateEnum": "drills.web.api.serializers.GAMEDAY_STATES",
    },
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "playbook-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
