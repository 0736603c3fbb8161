"""Limit Desk settings: one module, read from the environment.

Every knob is an environment variable with a safe default; see README.md.
"""

from __future__ import annotations

import copy
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-for-the-local-demo"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# Where local services keep their state (beat schedule, uploads); under .local/.
STATE_DIR = Path(os.environ.get("LIMITDESK_STATE_DIR", BASE_DIR / ".local" / "dev"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "axes",
    "accounts",
    "decisions",
    "appeals",
    "policies",
    "history",
    "notices",
    "api",
    "compliance",
    "retention",
    "desk",
    "demo",
    "ninja",
]

MIDDLEWARE = [
    # /healthz and /readyz, answered before host checks, redirects and sessions
    # (desk/probes.py; docs/architecture.md, "Health and readiness").
    "desk.probes.ProbeMiddleware",
    # An id, a JSON log line and the request metrics for every other request
    # (docs/architecture.md, "Metrics and logs").
    "config.request_log.RequestLog",
    # A GET's reads from the streaming replica, when there is one (config/replica.py).
    "config.replica.ReplicaReads",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "api.middleware.ApiCallLog",
    # A lock or statement timeout becomes "busy, try again", not an error page.
    "config.busy.DatabaseBusy",
    # Last, as django-axes asks: it turns lockouts into a response.
    "axes.middleware.AxesMiddleware",
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
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "desk.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# PostgreSQL only. `make run` / `make test` export DATABASE_URL for the
# embedded server; set it yourself to use a real one.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use `make run` / `make test`, which start PostgreSQL, "
        "or set DATABASE_URL=postgres://user:password@host:5432/limitdesk."
    )
# Health checks: a pooled connection is checked before it is handed out, so one left
# dead by a database restart is replaced instead of failing a request.
_database = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
if _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "Limit Desk runs on PostgreSQL only; DATABASE_URL must be postgres://"
    )
if envbool("DB_POOL", True):
    # psycopg 3 connection pool, one per process (web worker, Celery child).
    _database["OPTIONS"] = {
        "pool": {
            "min_size": envint("DB_POOL_MIN", 1),
            "max_size": envint("DB_POOL_MAX", 8),
            "timeout": envint("DB_POOL_TIMEOUT", 10),
        }
    }
# In the web process a statement waiting for a row lock gives up after
# DB_LOCK_TIMEOUT_SECONDS, and any statement after DB_STATEMENT_TIMEOUT_SECONDS
# (config/wsgi.py sets both, below gunicorn's 30 s): the person is told "busy, try
# again" (config/busy.py) instead of waiting for a timeout page. Workers and commands
# wait (0: no limit); a worker's chunk that fails on a lock is retried (decisions/tasks.py).
_timeouts = {
    "lock_timeout": envint("DB_LOCK_TIMEOUT_SECONDS", 0),
    "statement_timeout": envint("DB_STATEMENT_TIMEOUT_SECONDS", 0),
}
_database.setdefault("OPTIONS", {})["options"] = " ".join(
    f"-c {name}={seconds * 1000}" for name, seconds in _timeouts.items()
)
_database["TEST"] = {"NAME": f"test_{_database['NAME']}"}
DATABASES = {"default": _database}

# A streaming replica for the pages' reads (config/replica.py; docs/architecture.md,
# "The read replica"). Its URL may name the server alone: the login and the
# database are then the primary's. In tests it mirrors the primary's test database,
# which streaming replication copies to it.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    _replica = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=0, conn_health_checks=True)
    if _replica["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be postgres://")
    _replica["USER"] = _replica.get("USER") or _database.get("USER", "")
    _replica["PASSWORD"] = _replica.get("PASSWORD") or _database.get("PASSWORD", "")
    _replica["NAME"] = _replica.get("NAME") or _database.get("NAME", "")
    _replica["OPTIONS"] = copy.deepcopy(_database["OPTIONS"])
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
DATABASE_ROUTERS = ["config.replica.ReplicaRouter"]
DATABASE_REPLICA_READS = envbool("DATABASE_REPLICA_READS", True)
# Read your writes: after a change, the person's reads stay on the primary this long.
REPLICA_STICKY_SECONDS = envint("REPLICA_STICKY_SECONDS", 10)
# How often a process asks the replica whether it keeps up, and how far behind it
# may be and still serve.
REPLICA_CHECK_SECONDS = envint("REPLICA_CHECK_SECONDS", 5)
REPLICA_MAX_LAG_SECONDS = envint("REPLICA_MAX_LAG_SECONDS", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The login the running app uses when the migrations run as the owner: after every
# migrate and flush it gets ordinary rights on the tables, and no UPDATE, DELETE or
# TRUNCATE on the append-only ones (config/grants.py). A role that does not exist is
# skipped (one login for both).
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", "limitdesk_app")

# --- Redis / Celery -----------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Use `make run` / `make test`, which start Redis, "
        "or set REDIS_URL=redis://host:6379/0."
    )

# The longest task (a whole-portfolio chunk) runs for minutes; a message
# whose worker died is redelivered after this, never while still running.
LONGEST_TASK_SECONDS = envint("CELERY_LONGEST_TASK_SECONDS", 30 * 60)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = timedelta(hours=6)
# Nothing reads a task's result (runs and heartbeats keep their state in PostgreSQL).
# Keeping none also means sending a task waits on no result backend: with Redis away,
# a send fails within a second (three tries) instead of twenty seconds.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# One scheduler sends at a time, however many beat processes run (config/beat.py).
CELERY_BEAT_SCHEDULER = "config.beat:SingleScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = LONGEST_TASK_SECONDS
CELERY_TASK_SOFT_TIME_LIMIT = LONGEST_TASK_SECONDS - 60
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": LONGEST_TASK_SECONDS * 2}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": LONGEST_TASK_SECONDS * 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
# The worker's and beat's lines go through LOGGING like the web's: JSON lines that
# name the task and its run (config/logs.py).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(STATE_DIR / "celerybeat-schedule")
HEARTBEAT_INTERVAL = timedelta(seconds=envint("HEARTBEAT_SECONDS", 60))
# The bearer token Prometheus sends to /metrics; unset, only this machine may scrape
# (desk/metrics.py).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# A worker answers Prometheus itself on this port (0: it does not), at this address:
# a host running workers only has no web process to scrape (docs/architecture.md,
# "Metrics and logs"). Needs PROMETHEUS_MULTIPROC_DIR, as the web's /metrics does.
WORKER_METRICS_PORT = envint("WORKER_METRICS_PORT", 0)
WORKER_METRICS_ADDR = os.environ.get("WORKER_METRICS_ADDR", "127.0.0.1")
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "decisions.tasks.record_heartbeat",
        "schedule": HEARTBEAT_INTERVAL,
        "kwargs": {"source": "beat"},
    },
    "nightly-rescore": {
        "task": "decisions.tasks.nightly_rescore",
        "schedule": crontab(hour=envint("RESCORE_HOUR_UTC", 18), minute=0),
    },
    "resume-stalled-runs": {
        "task": "decisions.tasks.resume_stalled_runs",
        "schedule": timedelta(minutes=1),
    },
    # Signal re-scores are queued when asked for; this catches a task that was lost.
    "rescore-requested": {
        "task": "decisions.tasks.rescore_requested",
        "schedule": timedelta(minutes=1),
    },
    "appeal-sla-breaches": {
        "task": "appeals.tasks.flag_sla_breaches",
        "schedule": timedelta(minutes=5),
    },
    # The overview's portfolio figures scan every account: computed here, read from the cache.
    "portfolio-figures": {
        "task": "accounts.tasks.refresh_portfolio_figures",
        "schedule": timedelta(minutes=1),
    },
    # A signed checkpoint of every account's chain head, kept outside the database.
    "audit-checkpoint": {
        "task": "decisions.tasks.audit_checkpoint",
        "schedule": crontab(hour=0, minute=30),
    },
    # Next month's snapshot partition made ahead; those past retention dropped.
    "history-partitions": {
        "task": "history.tasks.maintain_partitions",
        "schedule": crontab(hour=1, minute=15),
    },
    # Next month's partition of the decisions made ahead (decisions/0021).
    "decision-partitions": {
        "task": "decisions.tasks.ensure_decision_partitions",
        "schedule": crontab(hour=1, minute=20),
    },
    # Records past their retention removed in batches (docs/architecture.md, "Retention").
    "prune-retention": {
        "task": "retention.tasks.prune_retention",
        "schedule": crontab(hour=1, minute=45),
    },
    # Outcomes of past snapshots as later ones mature (history.performance).
    "derive-outcomes": {
        "task": "history.tasks.derive_outcomes",
        "schedule": crontab(hour=2, minute=15),
    },
    # Stability, drift and fairness thresholds on the latest snapshot (history.drift).
    "check-drift": {
        "task": "history.tasks.check_drift",
        "schedule": crontab(minute=20),
    },
    # The customer notices' outbox (docs/architecture.md, "Notices: the outbox and the
    # receiver"): what is due goes to the messaging service's webhook.
    "deliver-notices": {
        "task": "notices.tasks.deliver_notices",
        "schedule": timedelta(seconds=envint("NOTICE_DELIVERY_INTERVAL_SECONDS", 10)),
    },
}

# --- Limits and re-scoring --------------------------------------------------
# A manual override to a limit above this waits for a second person.
OVERRIDE_APPROVAL_ABOVE = Decimal(os.environ.get("OVERRIDE_APPROVAL_ABOVE", "50000"))
# An appeal restoring a limit above this waits for an appeal lead's approval.
APPEAL_APPROVAL_ABOVE = Decimal(os.environ.get("APPEAL_APPROVAL_ABOVE", "20000"))
# New appeals go round robin to handlers in the rotation (docs/architecture.md, "Queue steering").
APPEAL_AUTO_ASSIGN = envbool("APPEAL_AUTO_ASSIGN", True)
RESCORE_CHUNK_SIZE = envint("RESCORE_CHUNK_SIZE", 20_000)
# The nightly run scores only the accounts not marked steady and advances the rest
# (docs/architecture.md, "The incremental nightly run"); off, it scores every account.
RESCORE_INCREMENTAL = envbool("RESCORE_INCREMENTAL", True)
# An incremental run over a book mostly marked steady reads it in chunks this large:
# a chunk's fixed cost is paid on far fewer accounts it scores.
RESCORE_INCREMENTAL_CHUNK_SIZE = envint("RESCORE_INCREMENTAL_CHUNK_SIZE", 100_000)
# A signal file changing more accounts than this is re-scored by a portfolio run
# (under the circuit breaker), not account by account at once.
SIGNAL_IMPORT_RESCORE_MAX = envint("SIGNAL_IMPORT_RESCORE_MAX", 5_000)
# A run none of whose chunks moved for this long is resumed by the watchdog
# (its worker died); a chunk takes seconds, so minutes mean a dead worker.
RESCORE_STALL_SECONDS = envint("RESCORE_STALL_SECONDS", 300)

# --- Portfolio history --------------------------------------------------------
# Which portfolio runs write a snapshot of every account (docs/architecture.md,
# "Snapshots in a run"): "monthly", the first run of a month while the month has no
# complete snapshot; "every-run", every run (at most one a day).
PORTFOLIO_SNAPSHOT_CADENCE = os.environ.get("PORTFOLIO_SNAPSHOT_CADENCE", "monthly")
if PORTFOLIO_SNAPSHOT_CADENCE not in {"monthly", "every-run"}:
    raise ImproperlyConfigured(
        "PORTFOLIO_SNAPSHOT_CADENCE must be monthly or every-run, "
        f"not {PORTFOLIO_SNAPSHOT_CADENCE!r}"
    )
# Months of snapshots kept: outcomes need 12 months after a snapshot, back-tests
# reach two years back. Whole month partitions older than this are dropped.
PORTFOLIO_HISTORY_MONTHS = envint("PORTFOLIO_HISTORY_MONTHS", 36)
if PORTFOLIO_HISTORY_MONTHS < 13:
    raise ImproperlyConfigured(
        "PORTFOLIO_HISTORY_MONTHS must be at least 13 (outcomes need 12 months after a "
        f"snapshot), not {PORTFOLIO_HISTORY_MONTHS}"
    )

# --- Retention (docs/architecture.md, "Retention") ----------------------------
# Days each kind of record is kept; older ones are pruned daily by beat. The
# defaults meet the periods named beside each in retention/rules.py and the README;
# a system check (retention.checks) refuses a value below its floor. Decisions, the
# audit chain and policy versions are never pruned.
# How long a resent signal event id answers "duplicate" (the API's idempotency window).
SIGNAL_EVENT_IDEMPOTENCY_DAYS = envint("SIGNAL_EVENT_IDEMPOTENCY_DAYS", 30)
RETENTION_API_CALL_LOG_DAYS = envint("RETENTION_API_CALL_LOG_DAYS", 400)
RETENTION_SIGNAL_EVENT_DAYS = envint("RETENTION_SIGNAL_EVENT_DAYS", 400)
RETENTION_APPEAL_EVIDENCE_DAYS = envint("RETENTION_APPEAL_EVIDENCE_DAYS", 762)
RETENTION_REVEAL_DAYS = envint("RETENTION_REVEAL_DAYS", 1096)
RETENTION_NOTICE_DAYS = envint("RETENTION_NOTICE_DAYS", 762)
# Rows removed per short transaction.
RETENTION_BATCH_SIZE = envint("RETENTION_BATCH_SIZE", 5_000)

# --- Drift alerts (docs/architecture.md, "The Monitoring page and drift alerts") ---
# A score PSI or a signal's CSI at or above these raises an alert.
DRIFT_PSI_ALERT = float(os.environ.get("DRIFT_PSI_ALERT", "0.25"))
DRIFT_CSI_ALERT = float(os.environ.get("DRIFT_CSI_ALERT", "0.25"))
# The cut rate, or a reason's share of the cuts and closures, moving more than this
# many percentage points from one run to the next raises an alert.
DRIFT_CUT_RATE_POINTS = float(os.environ.get("DRIFT_CUT_RATE_POINTS", "5"))
DRIFT_REASON_MIX_POINTS = float(os.environ.get("DRIFT_REASON_MIX_POINTS", "10"))
# A cohort's adverse impact ratio below this raises an alert (the four-fifths rule).
DRIFT_AIR_ALERT = float(os.environ.get("DRIFT_AIR_ALERT", "0.8"))

# --- Customer notices: the register (docs/architecture.md, "Notices: the register") ---
# Every decrease or closure owes the customer a notice within this many days of the
# decision (Reg B §202.9: 30 days).
NOTICE_CLOCK_DAYS = envint("NOTICE_CLOCK_DAYS", 30)
if NOTICE_CLOCK_DAYS < 1:
    raise ImproperlyConfigured(f"NOTICE_CLOCK_DAYS must be at least 1, not {NOTICE_CLOCK_DAYS}")
# Whether a portfolio-wide cut (the portfolio overlay set the limit, or the version in
# staged rollout scored the account) is told to each customer; off: recorded, not sent.
NOTICE_PORTFOLIO_NEEDS_INDIVIDUAL = envbool("NOTICE_PORTFOLIO_NEEDS_INDIVIDUAL", True)

# --- Customer notices: the outbox (docs/architecture.md, "Notices: the outbox and the
# receiver") ---
# The messaging service's webhook; empty: nothing is sent (the notices wait). `make run`
# and the tests start a local receiver and set both (config/stack.py).
NOTICE_WEBHOOK_URL = os.environ.get("NOTICE_WEBHOOK_URL", "")
NOTICE_WEBHOOK_SECRET = os.environ.get("NOTICE_WEBHOOK_SECRET", "")
if NOTICE_WEBHOOK_URL and not NOTICE_WEBHOOK_SECRET:
    raise ImproperlyConfigured(
        "NOTICE_WEBHOOK_SECRET must be set with NOTICE_WEBHOOK_URL: each notice is signed."
    )
# A failed delivery is tried again after NOTICE_RETRY_BASE_SECONDS, doubling each time
# up to NOTICE_RETRY_MAX_SECONDS; after NOTICE_MAX_ATTEMPTS it is a dead letter.
NOTICE_RETRY_BASE_SECONDS = envint("NOTICE_RETRY_BASE_SECONDS", 60)
NOTICE_RETRY_MAX_SECONDS = envint("NOTICE_RETRY_MAX_SECONDS", 3600)
NOTICE_MAX_ATTEMPTS = envint("NOTICE_MAX_ATTEMPTS", 8)
# Notices claimed at a time, the requests in flight at once, and one request's timeout.
NOTICE_BATCH_SIZE = envint("NOTICE_BATCH_SIZE", 200)
NOTICE_DELIVERY_CONCURRENCY = envint("NOTICE_DELIVERY_CONCURRENCY", 16)
NOTICE_TIMEOUT_SECONDS = envint("NOTICE_TIMEOUT_SECONDS", 10)

# --- Audit checkpoints ------------------------------------------------------
# Every account's chain head, signed with HMAC-SHA256 under a key the database
# never holds, written daily to files (docs/architecture.md, "Who can rewrite the
# audit trail"). The key: AUDIT_CHECKPOINT_KEY, or a file holding it; read only when
# a checkpoint is written or checked (decisions.audit_trail.audit_checkpoint_key).
AUDIT_CHECKPOINT_DIR = Path(
    os.environ.get("AUDIT_CHECKPOINT_DIR", "") or STATE_DIR / "audit-checkpoints"
)
AUDIT_CHECKPOINT_KEY = os.environ.get("AUDIT_CHECKPOINT_KEY", "")
AUDIT_CHECKPOINT_KEY_FILE = os.environ.get("AUDIT_CHECKPOINT_KEY_FILE", "")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "limitdesk",
        # Pages degrade, not crash, when Redis is away: short timeouts.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Authentication ---------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Lock a username (whatever the address) after 5 failures for 15 minutes.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

SESSION_COOKIE_AGE = 8 * 60 * 60  # a working day
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Transport security (production) ---------------------------------------
HTTPS = envbool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if envbool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: nothing from other origins, inline scripts only
# with the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Internationalisation ---------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Grouping and the date-input format per language: config/formats (amounts grouped by
# thousands with a comma in every language; ISO dates in <input type="date">).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / ".local" / "staticfiles"
# Appeal evidence: outside any URL the web server serves; read only through a
# permission-checked view (appeals.views.evidence_file).
EVIDENCE_ROOT = Path(os.environ.get("EVIDENCE_ROOT", STATE_DIR / "evidence"))
EVIDENCE_MAX_BYTES = envint("EVIDENCE_MAX_BYTES", 10 * 1024 * 1024)
EVIDENCE_MAX_PDF_PAGES = envint("EVIDENCE_MAX_PDF_PAGES", 50)
EVIDENCE_MAX_IMAGE_PIXELS = envint("EVIDENCE_MAX_IMAGE_PIXELS", 50_000_000)
# Regulatory evidence packs (zip files): outside any URL the web server serves; read
# only through a permission-checked view (docs/architecture.md, "Evidence pack").
EVIDENCE_PACK_ROOT = Path(os.environ.get("EVIDENCE_PACK_ROOT", STATE_DIR / "evidence-packs"))
# Whole phone numbers a person without the reveal permission may look up an hour.
PHONE_LOOKUPS_PER_HOUR = envint("PHONE_LOOKUPS_PER_HOUR", 20)
# Uploads above this go to a temporary file while they arrive, not to memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if envbool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve straight from the app folders when nothing was collected (local runs).
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", DEBUG)

# JSON lines with the request id, user and run id (config/logs.py); LOG_FORMAT=plain
# for the one-line text.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logs.JsonLines"},
    },
    "filters": {
        "refusals": {"()": "config.log_filters.ClientErrorsWithoutTraceback"},
        "context": {"()": "config.logs.WorkContext"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["refusals", "context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # Django's own console handler (DEBUG only) would print a 403's traceback:
        # its records go to the one console handler above instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# axes.W006 asks to lock by IP address too. Staff reach Limit Desk from a few
# shared office addresses: locking an address would lock the whole team out
# after one person's typos. Lockout is per username instead.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
