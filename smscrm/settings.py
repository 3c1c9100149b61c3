"""Settings for the SMS CRM, read from the environment through django-environ (every variable is
listed, with a comment, in ``.env.example``). With no environment at all the project runs on a
laptop: SQLite, console e-mail, simulated SMS, a file-system Celery broker and a local cache.
``DJANGO_ENV=production`` refuses to start without SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS and
REDIS_URL, and turns on every ``check --deploy`` hardening.
"""

from pathlib import Path

import environ
from django.contrib.messages import constants as message_constants

from smscrm.logging import logging_config
from smscrm.sentry import init_sentry

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file is optional; real environment variables always win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# pytest (8.2+) announces itself through PYTEST_VERSION: tests always run in test mode.
DJANGO_ENV = "test" if env.str("PYTEST_VERSION", default="") else env.str("DJANGO_ENV", default="development")
TESTING = DJANGO_ENV == "test"
PRODUCTION = DJANGO_ENV == "production"
if DJANGO_ENV not in {"development", "test", "production"}:
    raise environ.ImproperlyConfigured(f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}")

if PRODUCTION:
    # No defaults: production refuses to start without its secrets and services.
    SECRET_KEY = env.str("SECRET_KEY")
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
    REDIS_URL = env.str("REDIS_URL")
    DEBUG = False
else:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-do-not-use-in-production")
    DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
    REDIS_URL = env.str("REDIS_URL", default="")
    DEBUG = env.bool("DEBUG", default=DJANGO_ENV == "development")

DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode (docs/runbook.md, "PgBouncer"): no server-side cursors (a
# WITH HOLD cursor outlives its transaction) and no startup "options" (PgBouncer refuses them).
DB_PGBOUNCER = env.bool("DB_PGBOUNCER", default=False)
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DB_PGBOUNCER
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's JIT compiles a query when its estimated cost is high, as batch look-ups of 5,000
    # numbers often are: tens to hundreds of ms compiling a query that runs in 15. Nothing gains.
    # Behind PgBouncer: ALTER DATABASE ... SET jit = off instead.
    DATABASES["default"].setdefault("OPTIONS", {})
    if not DB_PGBOUNCER:
        DATABASES["default"]["OPTIONS"]["options"] = "-c jit=off"
    # A database that stops answering (a cut network) fails a new connection in 5 s instead of
    # hanging the process: beat and the dispatch loop then back off and try again.
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share one SQLite file under `make run`: WAL and IMMEDIATE
    # transactions stop "database is locked" errors when they write at the same time.
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}

# Public base URL: the address people and the provider reach the application at. It builds the links
# e-mailed, status callback URLs, the URL an incoming webhook's signature is checked against (unless
# WEBHOOK_TRUST_PROXY_HEADERS), the simulator's callbacks, and short links with no short domain.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Every other host the application's pages are served on (PUBLIC_BASE_URL's host always counts).
# No tenant may use one of them, or a name under one, as its short domain (tenants/hosts.py).
APP_HOSTS = env.list("APP_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "sesame",
    "csp",
    # Ours, lowest layer first (see docs/architecture.md).
    "smscrm.apps.SmscrmConfig",
    "tenants",
    "webhooks",
    "contacts",
    "messaging",
    "links",
    "campaigns",
    "reporting",
]

MIDDLEWARE = [
    "smscrm.requestid.RequestIdMiddleware",  # X-Request-ID on the response and every log line
    "django.middleware.security.SecurityMiddleware",
    # Short domains and /s/<token> are answered here, before sessions and tenancy (links/middleware.py).
    "links.middleware.ShortLinkMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy on every page (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A NUL character in a path, query string or form field is refused here (smscrm/edge.py).
    "smscrm.edge.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.TenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "smscrm.urls"
WSGI_APPLICATION = "smscrm.wsgi.application"
ASGI_APPLICATION = "smscrm.asgi.application"

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
                "tenants.context_processors.tenancy",
                "messaging.context_processors.inbox",
            ],
        },
    },
]

AUTHENTICATION_BACKENDS = [
    # Staff never have passwords: the magic link is the only way in.
    "sesame.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = []
LOGIN_URL = "tenants:login"
LOGIN_REDIRECT_URL = "reporting:dashboard"  # the home page; tenants redirects there by this name
LOGOUT_REDIRECT_URL = "tenants:login"

# Magic links (django-sesame): 15 minutes, usable once.
SESAME_MAX_AGE = env.int("MAGIC_LINK_MAX_AGE_SECONDS", default=15 * 60)
# Invitations to join a business: how long the e-mailed link stays open.
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)
SESAME_ONE_TIME = True
SESAME_TOKEN_NAME = "sesame"  # noqa: S105 (a parameter name, not a secret)

# Login rate limits (django-ratelimit), per client IP and per e-mail address.
LOGIN_RATE_PER_IP = env.str("LOGIN_RATE_PER_IP", default="20/h")
LOGIN_RATE_PER_EMAIL = env.str("LOGIN_RATE_PER_EMAIL", default="5/h")
# Proxies in front of the web process that append the client's address to X-Forwarded-For
# (compose: 1, the TLS-terminating proxy). 0: the client is REMOTE_ADDR. smscrm/clientip.py.
TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if env.bool("TRUST_X_FORWARDED_FOR", default=False) else 0
)
# django-ratelimit asks this for the client's address (a META key such as HTTP_X_REAL_IP also works).
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="smscrm.clientip.client_ip")

LANGUAGE_CODE = "en-au"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MESSAGE_TAGS = {message_constants.ERROR: "error"}

# Cache: Redis when configured (shared, atomic rate-limit counts); else local memory (`make run`: one web).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="smscrm-test" if TESTING else "smscrm"),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
    SILENCED_SYSTEM_CHECKS = []
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Local memory is not shared between processes; with one web process (make run) the
    # login rate limit still holds. Production requires REDIS_URL, so this never ships.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003"]

# E-mail: console in development, SMTP (EMAIL_URL) in production.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://localhost:25" if PRODUCTION else "consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SMS CRM <no-reply@localhost>")

# Celery: Redis when configured; else a file-system broker, so `make run`'s processes need no server.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    _queue_dir = BASE_DIR / "var" / "celery" / "queue"
    _processed_dir = BASE_DIR / "var" / "celery" / "processed"
    _control_dir = BASE_DIR / "var" / "celery" / "control"
    for _dir in (_queue_dir, _processed_dir, _control_dir):
        _dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=14 * 60)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queues (docs/architecture.md, "Queues"): sending never waits behind an import or a report.
# `dispatch`: the sending path's short tasks; `imports`: what runs long over a file or audience;
# `default`: the rest. Every task is listed (smscrm/tests/test_queues.py fails on one that is
# not), and each queue's worker proves it is alive with a heartbeat (`manage.py health worker`).
QUEUE_DISPATCH = "dispatch"
QUEUE_IMPORTS = "imports"
QUEUE_DEFAULT = "default"
WORKER_QUEUES = (QUEUE_DISPATCH, QUEUE_IMPORTS, QUEUE_DEFAULT)
CELERY_TASK_DEFAULT_QUEUE = QUEUE_DEFAULT
CELERY_TASK_ROUTES = {
    name: {"queue": queue}
    for queue, names in {
        QUEUE_DISPATCH: ["campaigns.dispatch", "campaigns.reconcile_sending", "messaging.send_conversation_reply"]
        + ["messaging.sweep_conversation_replies"],
        QUEUE_IMPORTS: [
            "contacts.import_preview",
            "contacts.import_commit",
            "contacts.resume_stalled_imports",
            "contacts.sweep_incoming_uploads",
            "campaigns.create_jobs",  # up to 1,000,000 rows
            "campaigns.prepare_pending",  # runs create_jobs inline for a lost task
            "reporting.pilot_check",
            "reporting.pilot_runs_resume",  # runs pilot checks inline for a lost task
            "smscrm.backup",  # scripts/backup.sh: a pg_dump of the whole database
        ],
        QUEUE_DEFAULT: [
            "reporting.refresh_campaign",
            "reporting.refresh_stats",
            "reporting.refresh_tenant",
            "messaging.simulator_deliver",
            "messaging.reconcile_prices",
            "messaging.apply_pending_events",
            "messaging.look_up_statuses",
            "messaging.notify_waiting_conversations",
            "links.flush_clicks",
            "tenants.send_login_link",
            "tenants.send_invitation",
            "tenants.idempotency_purge",
            # Event webhooks: at most WEBHOOKS_TIMEOUT_SECONDS each, one at a time to a failing URL.
            "webhooks.deliver",
            "webhooks.deliver_due",
            "smscrm.tasks.worker_heartbeat",  # beat sends one to each queue (CELERY_BEAT_SCHEDULE)
        ],
    }.items()
    for name in names
}
# Tests run tasks in-process, at commit, like a worker would right after it.
CELERY_TASK_ALWAYS_EAGER = TESTING or env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = TESTING
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "smscrm.beat:HeartbeatDatabaseScheduler"
HEARTBEAT_INTERVAL_SECONDS = env.int("HEARTBEAT_INTERVAL_SECONDS", default=15)
CONVERSATION_NOTIFY_AFTER_MINUTES = env.int("CONVERSATION_NOTIFY_AFTER_MINUTES", default=30)  # then e-mail
# The schedule lives here, in code (django-celery-beat copies it into its tables at start-up).
CELERY_BEAT_SCHEDULE = {
    # One heartbeat per queue, sent to that queue: each proves a worker consumes it (health worker).
    **{
        f"worker-heartbeat-{queue}": {
            "task": "smscrm.tasks.worker_heartbeat",
            "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
            "kwargs": {"queue": queue},
            "options": {"queue": queue, "expires": HEARTBEAT_INTERVAL_SECONDS * 2},
        }
        for queue in WORKER_QUEUES
    },
    "campaigns-dispatch": {
        "task": "campaigns.dispatch",
        # Every second, each run up to 10 s: enough runs for every process of the dispatch worker
        # (compose: 8), so all of them are sending while there is work.
        "schedule": env.float("DISPATCH_INTERVAL_SECONDS", default=1.0),
        # Short runs, so a single worker (make run) still gets to its other tasks in between.
        "kwargs": {"max_seconds": 10.0},
        "options": {"expires": 10},
    },
    # The periodic sweeps: (name, task, every so many seconds, expires after so many seconds).
    **{
        name: {"task": task, "schedule": every, "options": {"expires": expires}}
        for name, task, every, expires in (
            ("campaigns-prepare-pending", "campaigns.prepare_pending", 30.0, 25),
            ("campaigns-reconcile-sending", "campaigns.reconcile_sending", 60.0, 55),
            ("tenants-idempotency-purge", "tenants.idempotency_purge", 3600.0, 3000),
            ("reporting-refresh-stats", "reporting.refresh_stats", 30.0, 25),
            ("links-flush-clicks", "links.flush_clicks", 2.0, 10),
            ("reporting-pilot-runs-resume", "reporting.pilot_runs_resume", 60.0, 55),
            ("messaging-sweep-conversation-replies", "messaging.sweep_conversation_replies", 5.0, 5),
            ("messaging-apply-pending-events", "messaging.apply_pending_events", 30.0, 25),
            ("messaging-look-up-statuses", "messaging.look_up_statuses", 300.0, 290),
            ("messaging-reconcile-prices", "messaging.reconcile_prices", 300.0, 290),
            ("messaging-notify-waiting-conversations", "messaging.notify_waiting_conversations", 300.0, 290),
            ("contacts-resume-stalled-imports", "contacts.resume_stalled_imports", 60.0, 55),
            ("contacts-sweep-incoming-uploads", "contacts.sweep_incoming_uploads", 3600.0, 600),
            ("webhooks-deliver-due", "webhooks.deliver_due", 15.0, 14),
        )
    },
}
# Backups (README, "Backups"): with a directory set, beat runs scripts/backup.sh into it daily.
BACKUP_DIR = env.str("BACKUP_DIR", default="")
if BACKUP_DIR:
    CELERY_BEAT_SCHEDULE["smscrm-backup"] = {"task": "smscrm.backup", "schedule": 86400.0, "options": {"expires": 3600}}
# scripts/restore.sh records each drill here (its RESTORE_DRILL_LOG); the cutover check reads it.
RESTORE_DRILL_LOG = env.str("RESTORE_DRILL_LOG", default=str(BASE_DIR / "var" / "restore_drills.log"))
# The cutover check's requests to the provider, our own public URL and DNS give up after this.
CUTOVER_TIMEOUT_SECONDS = env.float("CUTOVER_TIMEOUT_SECONDS", default=5.0)

# Contact imports: limits, and how long a running import task's lease lasts without renewal
# (a task renews it every batch; a crashed one is taken over once it lapses).
CONTACT_IMPORT_MAX_ROWS = env.int("CONTACT_IMPORT_MAX_ROWS", default=1_000_000)
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
CONTACT_IMPORT_LEASE_SECONDS = env.int("CONTACT_IMPORT_LEASE_SECONDS", default=120)
CONTACT_IMPORT_MAX_COLUMNS = env.int("CONTACT_IMPORT_MAX_COLUMNS", default=500)
# Files uploaded to an import URL are written once, straight where the import keeps them, and
# counted as they arrive (contacts/uploads.py); elsewhere Django's own handlers take them.
IMPORT_UPLOAD_PATHS = ["/contacts/imports/", "/admin/contacts/contactimport/add/", "/api/v1/imports/"]
FILE_UPLOAD_HANDLERS = [
    "contacts.uploads.ImportUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# A request declaring a larger body is refused with 413 before it is read (smscrm/wsgi.py): this
# on every URL, and the import limit (plus room for the form) on the import URLs.
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=10 * 1024 * 1024)
MAX_IMPORT_REQUEST_BYTES = CONTACT_IMPORT_MAX_BYTES + 1024 * 1024

# SMS provider: "simulator" (default: no account needed), "twilio", or "locmem" (tests).
SMS_BACKEND = env.str("SMS_BACKEND", default="locmem" if TESTING else "simulator")
# Auth tokens of provider accounts kept in the environment rather than the database:
# "ACxxxx=token,ACyyyy=token". An account whose stored token is empty uses its entry here.
TWILIO_AUTH_TOKENS = env.dict("TWILIO_AUTH_TOKENS", default={})
# Fernet keys that encrypt secrets at rest (newest first); empty: derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Webhooks: the URL a signature covers is PUBLIC_BASE_URL + the request's path, unless the
# proxy in front is trusted to say which URL it was called on (X-Forwarded-Proto/Host/Port).
WEBHOOK_TRUST_PROXY_HEADERS = env.bool("WEBHOOK_TRUST_PROXY_HEADERS", default=False)
WEBHOOK_MAX_BYTES = 64 * 1024
# Event webhooks go to public addresses only (https in production) unless this is set, for tests
# and development; and one attempt may take this many seconds.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=5.0)
# An opt-out or reply is attributed to the campaign whose message reached the number last,
# within this many days.
INBOUND_ATTRIBUTION_DAYS = env.int("INBOUND_ATTRIBUTION_DAYS", default=30)
# Short links: the default short domain (a tenant may set its own; each must also be in
# ALLOWED_HOSTS). Empty: links are served at PUBLIC_BASE_URL/s/<token>.
SHORT_DOMAIN = env.str("SHORT_DOMAIN", default="").lower()
# Unknown short-link tokens one visitor may ask for per minute before getting 429 (bots guessing).
SHORT_LINK_MISSES_PER_MINUTE = env.int("SHORT_LINK_MISSES_PER_MINUTE", default=30)
# Clicks keep a salted hash of the visitor's address, never the address.
CLICK_IP_SALT = env.str("CLICK_IP_SALT", default=f"click-ip:{SECRET_KEY}")
# Twilio's API base; tests point it at a local fake server (never the real API).
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip("/")
# Seconds to wait for Twilio to connect and to answer a request (an answer later than this
# leaves the message "unknown": it may have been taken).
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
# Twilio's own limit on one account's requests in flight (HTTP 429 / 20429 past it); a provider
# account's max_concurrent_requests may not exceed it. Raise it only if Twilio raised yours.
TWILIO_MAX_CONCURRENT_REQUESTS = env.int("TWILIO_MAX_CONCURRENT_REQUESTS", default=100)
# Concurrent hand-off (messaging.handoff): a worker's hold on its share of an account's requests
# in flight lapses this long after its last word, so a killed worker's share comes back.
HANDOFF_LEASE_SECONDS = env.float("HANDOFF_LEASE_SECONDS", default=30.0)
# A message refused with 429 is tried again this many times, after a jittered pause, before
# its job goes back to the queue.
HANDOFF_RATE_LIMIT_RETRIES = env.int("HANDOFF_RATE_LIMIT_RETRIES", default=4)
# Workers handing off one campaign's batches at once (concurrent backends): a few keep its
# account's requests in flight; the other workers go on to other campaigns.
DISPATCH_WORKERS_PER_CAMPAIGN = env.int("DISPATCH_WORKERS_PER_CAMPAIGN", default=3)
# Seconds a message may wait in the provider's queue before it expires (Twilio: at most 36,000).
SMS_VALIDITY_PERIOD = env.int("SMS_VALIDITY_PERIOD", default=4 * 60 * 60)
# Simulator: the mix of final statuses it reports, and whether status callbacks are delivered
# over HTTP to PUBLIC_BASE_URL (a server runs, as under `make run`) or in-process.
SMS_SIMULATOR_MIX = env.str("SMS_SIMULATOR_MIX", default="delivered=90,undelivered=5,failed=5")
SMS_SIMULATOR_CALLBACKS = env.str("SMS_SIMULATOR_CALLBACKS", default="inprocess" if TESTING else "http")
SMS_SIMULATOR_CALLBACK_DELAY = env.float("SMS_SIMULATOR_CALLBACK_DELAY", default=2.0)
# What the simulator accepted, one line per message: how a crashed hand-off is reconciled.
SMS_SIMULATOR_LOG = env.path("SMS_SIMULATOR_LOG", default=BASE_DIR / "var" / "simulator" / "accepted.log")
# Dispatcher: jobs claimed per batch, and how long a job may sit in "sending" before the
# reconciler looks at it (a worker died between marking it and learning the outcome).
DISPATCH_BATCH_SIZE = env.int("DISPATCH_BATCH_SIZE", default=500)
DISPATCH_STALE_SENDING_SECONDS = env.int("DISPATCH_STALE_SENDING_SECONDS", default=300)
# A message still queued or sent this long after its hand-off (its final callback was lost) is
# looked up at the provider (messaging/statuses.py), and once more a day after its hand-off.
MESSAGE_STATUS_LOOKUP_AFTER_SECONDS = env.int("MESSAGE_STATUS_LOOKUP_AFTER_SECONDS", default=2 * 60 * 60)

# Health: a heartbeat older than this fails /health; so do more tasks than this waiting in one
# Celery queue, and a due send job (running campaign, unpaused tenant) waiting longer than this.
HEALTH_HEARTBEAT_MAX_AGE_SECONDS = env.int("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", default=120)
HEALTH_QUEUE_DEPTH_MAX = env.int("HEALTH_QUEUE_DEPTH_MAX", default=10000)
HEALTH_OLDEST_DUE_MAX_SECONDS = env.int("HEALTH_OLDEST_DUE_MAX_SECONDS", default=900)

# The REST API (docs/api.md): keys or the session, the role matrix, one error body, a rate per key.
from smscrm.settings_api import REST_FRAMEWORK, SPECTACULAR_SETTINGS  # noqa: E402, F401

# Security. Production sits behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "django.views.csrf.csrf_failure"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # /health and /metrics are asked over plain HTTP from inside the container network.
    SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

# A strict Content-Security-Policy (django-csp): everything from our own origin, no inline script
# or style (scripts and styles are static files; bars are <progress> elements), no framing, forms
# post only to us. The browser test loads every page under it and fails on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        **{directive: ["'self'"] for directive in ("default-src", "script-src", "style-src", "font-src")},
        **{directive: ["'self'"] for directive in ("connect-src", "form-action")},
        **{directive: ["'none'"] for directive in ("object-src", "base-uri", "frame-ancestors")},
        "img-src": ["'self'", "data:"],
    }
}

# Logs: one JSON object per line in production (LOG_FORMAT=json), lines for people otherwise;
# each carries its request id and tenant, with secrets and phone numbers masked (smscrm/logging.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text").lower()
LOGGING = logging_config(
    level=env.str("LOG_LEVEL", default="INFO"),
    json_lines=LOG_FORMAT == "json",
    twilio_level=env.str("TWILIO_LOG_LEVEL", default="WARNING"),
)
# Error tracking (smscrm/sentry.py): sentry-sdk with Django and Celery when SENTRY_DSN is set, scrubbed
# like the logs (no bodies, cookies, secret headers or frame locals; phones masked); off when empty.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
init_sentry(SENTRY_DSN, environment=DJANGO_ENV, traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0))
# GET /metrics (smscrm/metrics.py) answers only "Authorization: Bearer <this>"; unset, it is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
