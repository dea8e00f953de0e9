"""eventsite settings: one module, driven by environment variables.

With no variables set it runs embedded: SQLite and export files under var/, and a Celery
broker on the local filesystem, so a fresh checkout needs nothing else. In production,
DATABASE_URL, REDIS_URL and the S3_* variables switch to PostgreSQL, Redis and S3.
A malformed value stops start-up with a one-line message naming the variable.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

from eventsite.lib.env import ConfigurationError, env_bool, env_choice, env_int, env_list, env_str
from eventsite.lib.files import DIR_MODE, FILE_MODE, private_dir, private_file, secret_key_from
from eventsite.ops import multiproc

# Metrics of all processes add up through files (when METRICS_TOKEN is set); before any metric exists.
multiproc.configure()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("EVENTSITE_VAR_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not DATABASE_URL
# The test suite runs against PostgreSQL without production secrets.
TESTING = env_bool("EVENTSITE_TESTING", False)
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED and not TESTING:
        raise ConfigurationError("SECRET_KEY must be set when DATABASE_URL is set (production)")
    # Embedded mode keeps a generated key on disk so sessions survive restarts.
    SECRET_KEY = secret_key_from(private_dir(VAR_DIR) / "secret_key")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    ["127.0.0.1", "localhost", "[::1]", "testserver"] if EMBEDDED or TESTING else []
)
if not EMBEDDED and not ALLOWED_HOSTS:
    raise ConfigurationError("ALLOWED_HOSTS must be set when DATABASE_URL is set (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

if DATABASE_URL:
    if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
        raise ConfigurationError("DATABASE_URL must be a postgres:// or postgresql:// URL")
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except ValueError as exc:
        raise ConfigurationError(f"DATABASE_URL is malformed: {exc}") from None
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})
    # Fail fast when PostgreSQL is unreachable: ingest answers 503 instead of hanging.
    _db["OPTIONS"].setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 3, minimum=1))
    _db["OPTIONS"].setdefault("application_name", "eventsite")
else:
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        # Sessions and password hashes: 0600 in a 0700 var/ (SQLite would create it 0644).
        "NAME": str(private_file(private_dir(VAR_DIR) / "eventsite.sqlite3")),
        # WAL + IMMEDIATE transactions let the web and worker processes share the file
        # without "database is locked" errors under ordinary load.
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
DATABASES = {"default": _db}

# A streaming replica (optional): report exports and the read-only console/management event lists
# read from it, never showing events a purge erased (see eventsite/lib/replica.py); everything
# else, and everything that writes, uses DATABASE_URL.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
# Seconds an export waits for the replica to replay past the latest purge before reading the primary.
REPLICA_WAIT_SECONDS = env_int("REPLICA_WAIT_SECONDS", 10, minimum=0)
# After that wait: "primary" reads the primary; "wait" keeps exports off the primary: they wait up to
# REPLICA_MAX_WAIT_SECONDS for a lagging replica (an unreachable one still means the primary at once).
REPLICA_FALLBACK = env_choice("REPLICA_FALLBACK", "primary", ("primary", "wait"))
REPLICA_MAX_WAIT_SECONDS = env_int("REPLICA_MAX_WAIT_SECONDS", 600, minimum=0)
# A replica that failed (refused, timed out, broke mid-export) is not tried again for this long.
REPLICA_RETRY_SECONDS = env_int("REPLICA_RETRY_SECONDS", 30, minimum=0)
if DATABASE_REPLICA_URL:
    if not DATABASE_URL:
        raise ConfigurationError("DATABASE_REPLICA_URL needs DATABASE_URL (the primary)")
    if not DATABASE_REPLICA_URL.startswith(("postgres://", "postgresql://")):
        raise ConfigurationError("DATABASE_REPLICA_URL must be a postgres:// or postgresql:// URL")
    try:
        _replica = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=_db["CONN_MAX_AGE"])
    except ValueError as exc:
        raise ConfigurationError(f"DATABASE_REPLICA_URL is malformed: {exc}") from None
    _replica["CONN_HEALTH_CHECKS"] = True
    _replica.setdefault("OPTIONS", {})
    # A replica that does not answer must cost little: reads fall back to the primary.
    _replica["OPTIONS"].setdefault("connect_timeout", env_int("REPLICA_CONNECT_TIMEOUT", 2, minimum=1))
    _replica["OPTIONS"].setdefault("application_name", "eventsite-replica-reads")
    # Tests: no second test database; the alias reads the default one.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
DATABASE_ROUTERS = ["eventsite.lib.replica.ReplicaRouter"]

# Ingest limits (stated in the README).
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
INGEST_MAX_EVENT_BYTES = env_int("INGEST_MAX_EVENT_BYTES", 64 * 1024, minimum=256)
INGEST_MAX_EVENTS = env_int("INGEST_MAX_EVENTS", 1000, minimum=1)
INGEST_MAX_DEPTH = env_int("INGEST_MAX_DEPTH", 32, minimum=2)
# How long a web process may reuse a token lookup (revocation elsewhere takes this long).
TOKEN_CACHE_SECONDS = env_int("TOKEN_CACHE_SECONDS", 5, minimum=0)
# How often a web process writes its rejected-request counts for the console (0: never by itself).
CONSOLE_FLUSH_SECONDS = env_int("CONSOLE_FLUSH_SECONDS", 10, minimum=0)
# During a database outage a token (or the open Barchart datasource) is accepted only if this
# process verified it active within this many seconds (README: Reliability).
TOKEN_OUTAGE_TRUST_SECONDS = env_int("TOKEN_OUTAGE_TRUST_SECONDS", 3600, minimum=0)
# Where the web processes of one host share what they verified, for outages (eventsite/lib/verified.py).
VERIFIED_DIR = Path(env_str("VERIFIED_DIR", str(VAR_DIR / "verified")))

# The durable local spool behind ingest while the database is unreachable (events/spool.py).
SPOOL_ENABLED = env_bool("SPOOL_ENABLED", True)
SPOOL_DIR = Path(env_str("SPOOL_DIR", str(VAR_DIR / "spool")))
SPOOL_MAX_BYTES = env_int("SPOOL_MAX_BYTES", 1024 * 1024 * 1024, minimum=1024)
SPOOL_SEGMENT_BYTES = env_int("SPOOL_SEGMENT_BYTES", 16 * 1024 * 1024, minimum=1024)
SPOOL_WARN_AGE_SECONDS = env_int("SPOOL_WARN_AGE_SECONDS", 300, minimum=1)
# How often each web process looks for spooled batches to drain (one directory listing).
SPOOL_DRAIN_INTERVAL_SECONDS = env_int("SPOOL_DRAIN_INTERVAL_SECONDS", 2, minimum=1)

# Reports
REPORT_LINK_SECONDS = env_int("REPORT_LINK_SECONDS", 15 * 60, minimum=1)
REPORT_RETENTION_DAYS = env_int("REPORT_RETENTION_DAYS", 7, minimum=1)
REPORT_MAX_ROWS = env_int("REPORT_MAX_ROWS", 50_000_000, minimum=1)
REPORT_TIME_LIMIT_SECONDS = env_int("REPORT_TIME_LIMIT_SECONDS", 3600, minimum=1)
# A report's `types` list is stored and echoed in every status answer: bound it.
REPORT_MAX_TYPES = env_int("REPORT_MAX_TYPES", 1000, minimum=1)
# Jobs one user may have RUNNING at once (each may hold an export worker up to the time limit).
REPORT_MAX_RUNNING_PER_USER = env_int("REPORT_MAX_RUNNING_PER_USER", 3, minimum=1)
# Hard limits on background tasks (a purge reclaim deletes in 10k-row chunks; sweeps are short).
RECLAIM_TIME_LIMIT_SECONDS = env_int("RECLAIM_TIME_LIMIT_SECONDS", 3600, minimum=1)
SWEEP_TIME_LIMIT_SECONDS = env_int("SWEEP_TIME_LIMIT_SECONDS", 600, minimum=1)
# How long Redis keeps a task a dead worker had taken before handing it to another.
BROKER_VISIBILITY_TIMEOUT = env_int("BROKER_VISIBILITY_TIMEOUT", REPORT_TIME_LIMIT_SECONDS + 600, minimum=1)

# Object storage: S3 when S3_BUCKET is set, the local disk otherwise.
S3_BUCKET = env_str("S3_BUCKET")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
S3_REGION = env_str("S3_REGION", "us-east-1")
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")
if S3_BUCKET and not (S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY) and env_bool("S3_REQUIRE_KEYS", False):
    raise ConfigurationError("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set with S3_BUCKET")
S3_TIMEOUT_SECONDS = env_int("S3_TIMEOUT_SECONDS", 5, minimum=1)

# Production runs behind TLS: redirect plain HTTP and send HSTS (a proxy may terminate
# TLS and set X-Forwarded-Proto). Off in embedded mode, which serves 127.0.0.1 over HTTP.
_production = not EMBEDDED and not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _production and not TESTING)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if _production else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 20, minimum=1)
AUTH_CLIENT_IP_HEADER = env_str("AUTH_CLIENT_IP_HEADER")
# How many proxies in front of eventsite append to AUTH_CLIENT_IP_HEADER (see eventsite/http/ratelimit.py).
AUTH_TRUSTED_PROXY_COUNT = env_int("AUTH_TRUSTED_PROXY_COUNT", 1, minimum=1)
# Who must sign in to the console with a second factor (eventsite/lib/access.py): "sensitive"
# (those who may purge, issue or revoke tokens, or change retention) or "staff" (every staff user).
REQUIRE_2FA_FOR = env_choice("REQUIRE_2FA_FOR", "sensitive", ("sensitive", "staff"))
ADMIN_LOGIN_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 10, minimum=1)

SECURE_COOKIES = env_bool("SECURE_COOKIES", True)
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))

SERVICE_ENVIRONMENT = env_str("SERVICE_ENVIRONMENT", "embedded" if EMBEDDED else "production")

# Operations (eventsite/ops): /metrics is off (404) while METRICS_TOKEN is unset.
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ConfigurationError("METRICS_TOKEN must be at least 16 characters")
READYZ_TIMEOUT_SECONDS = env_int("READYZ_TIMEOUT_MS", 1500, minimum=100) / 1000
LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
# Retention sweeps delete this many events per transaction (each its own short transaction),
# optionally pausing between chunks so ingest keeps the disk (RETENTION_PAUSE_MS).
RETENTION_CHUNK = env_int("RETENTION_CHUNK", 5000, minimum=1)
RETENTION_PAUSE_SECONDS = env_int("RETENTION_PAUSE_MS", 0, minimum=0) / 1000
RETENTION_SWEEP_SECONDS = env_int("RETENTION_SWEEP_SECONDS", 3600, minimum=60)

INSTALLED_APPS = [
    # django.contrib.admin with the console's site (overview as the index, health panel, lockouts).
    "eventsite.console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # The console's second factor (issue 15): TOTP devices, and static backup codes for recovery.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    # The audit of staff actions (issue 15): below the domain apps, which record into it.
    "eventsite.audit",
    "events",
    "tokens",
    "reports",
    # After the apps: extends their admin with the pages that span them (purges).
    "eventsite.console",
    "eventsite.ops",
]

MIDDLEWARE = [
    # First: request ids, and /healthz, /readyz, /metrics answered before ALLOWED_HOSTS and the
    # HTTPS redirect (load balancers and Prometheus call by IP over plain http).
    "eventsite.ops.middleware.OpsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Ingest requests stop here: the middleware below serves browsers (sessions, CSRF, logins).
    "eventsite.http.fastpath.IngestFastPathMiddleware",
    # Content-Security-Policy (CONTENT_SECURITY_POLICY below) on every response from here on.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # Who acts (console or management API), for the audit of staff actions.
    "eventsite.audit.middleware.StaffActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: locks out admin logins after repeated failures.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # django-axes, but letting authenticate() calls without a request through (scripts, tests).
    "eventsite.lib.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = ADMIN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# API clients (Basic auth) get a JSON 429 in their family's format; the admin keeps axes' page.
AXES_LOCKOUT_CALLABLE = "eventsite.http.handlers.lockout_response"
# The limiter's client address (ipware would take X-Forwarded-For's first entry, which the client writes).
AXES_CLIENT_IP_CALLABLE = "eventsite.http.ratelimit.client_ip_for_axes"
# The console's second step (eventsite/console/twofactor.py) sends wrong codes to axes: never stored.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code"]
# Authenticator apps list the account as "eventsite:<username>"; device secrets stay out of the admin.
OTP_TOTP_ISSUER = "eventsite"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# The cache holds rate-limit counters only, shared by every process: Redis in production, files
# under var/ in embedded mode (gunicorn's workers are processes: a per-process cache let each
# worker count on its own). File counters can undercount failures that land at the same instant.
RATELIMIT_NAMESPACE = "authfail"
if REDIS_URL:
    _ratelimit_cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Several deployments (or test servers) may share one Redis database.
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "eventsite"),
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
else:
    _ratelimit_cache = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "ratelimit"),
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": _ratelimit_cache,
}

ROOT_URLCONF = "eventsite.urls"
WSGI_APPLICATION = "eventsite.wsgi.application"
APPEND_SLASH = False

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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"

if S3_BUCKET:
    _s3_options = {
        "bucket_name": S3_BUCKET,
        "region_name": S3_REGION,
        "default_acl": None,
        "file_overwrite": True,
        "querystring_auth": True,
        "querystring_expire": REPORT_LINK_SECONDS,
    }
    if S3_ENDPOINT_URL:
        _s3_options["endpoint_url"] = S3_ENDPOINT_URL
    if S3_ACCESS_KEY_ID:
        _s3_options["access_key"] = S3_ACCESS_KEY_ID
        _s3_options["secret_key"] = S3_SECRET_ACCESS_KEY
    _exports_storage = {"BACKEND": "reports.storage.ExportsS3Storage", "OPTIONS": _s3_options}
else:
    _exports_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "exports"), "file_permissions_mode": FILE_MODE,
                    "directory_permissions_mode": DIR_MODE},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "exports": _exports_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Celery: Redis in production; in embedded mode a filesystem broker that needs no server.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    }
else:
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    for _d in (VAR_DIR, _queue_dir.parent, _queue_dir, _processed_dir):
        private_dir(_d)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        # kombu's default is ./control, relative to the working directory (it appeared in the checkout).
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing retries once, briefly (kombu's ensure() takes no timeout; socket timeouts bound each try).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_BEAT_SCHEDULE: dict = {
    "reclaim-pending-epochs": {"task": "reports.tasks.reclaim_pending_epochs", "schedule": 300.0},
    "sweep-report-jobs": {"task": "reports.tasks.sweep_report_jobs", "schedule": 300.0},
    # The console's event counts (eventsite/console/rollup.py); also the workers' heartbeat.
    "console-rollup-events": {"task": "eventsite.console.tasks.rollup_events", "schedule": 30.0},
    "apply-retention": {"task": "events.tasks.apply_retention", "schedule": float(RETENTION_SWEEP_SECONDS)},
    # The spool on the worker's host; web hosts drain their own spool in each web process.
    "drain-spool": {"task": "events.tasks.drain_spool", "schedule": 60.0, "options": {"expires": 55}},
}
# Task log lines go through LOGGING (request ids, JSON format, token scrubbing), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# Exports (up to REPORT_TIME_LIMIT_SECONDS each) have their own queue and workers (Procfile
# `exports`), so purge reclaims, file deletions and sweeps on the default queue never wait behind them.
CELERY_TASK_DEFAULT_QUEUE = "celery"
EXPORTS_QUEUE = "exports"
CELERY_TASK_ROUTES = {"reports.tasks.export_report": {"queue": EXPORTS_QUEUE}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its scheme (Bearer) is the one a 401 names in WWW-Authenticate.
        "eventsite.http.manage.authentication.PersonalTokenAuthentication",
        "eventsite.http.manage.authentication.BasicAuthentication",
        "eventsite.http.manage.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["eventsite.http.manage.permissions.StaffModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["eventsite.http.manage.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "eventsite.http.manage.drf.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "eventsite.http.manage.drf.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "eventsite API",
    "DESCRIPTION": "Event collection compatible with kSense, Barchart and Jitsu clients.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are public and the same for everyone: no authentication at all, so that a
    # session the management API refuses (second factor not passed) does not make them 403 either.
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ReportJobStatusEnum": "reports.models.ReportJob.Status"},
    "POSTPROCESSING_HOOKS": [
        # First: the enum hook names the enums of the hand-described schemas too.
        "eventsite.http.openapi.compat_api_paths",
        "drf_spectacular.hooks.postprocess_schema_enums",
        "eventsite.http.openapi.manage_error_responses",
    ],
}

# HSTS for subdomains (W005) and browser preload lists (W021) bind every host of the operator's
# domain, irreversibly for preload: they stay opt-in (SECURE_HSTS_INCLUDE_SUBDOMAINS /
# SECURE_HSTS_PRELOAD) rather than defaults of this one service.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

# Console sessions end after ADMIN_SESSION_IDLE_SECONDS without a request: each request saves the
# session again, pushing its expiry (cookie and database row) that far ahead. A password change ends
# the user's other sessions (Django's session auth hash; the console's change form keeps the changer's).
ADMIN_SESSION_IDLE_SECONDS = env_int("ADMIN_SESSION_IDLE_SECONDS", 3600, minimum=60)
SESSION_COOKIE_AGE = ADMIN_SESSION_IDLE_SECONDS
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
if _production:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# The console and the API docs (Swagger UI) run only scripts served by us, plus the inline scripts our
# templates mark with the request's nonce ({{ request.csp_nonce }}): no inline event handlers, no eval.
# Styles keep 'unsafe-inline': Django admin's templates and ours carry style="" attributes and <style>
# blocks, and Swagger UI's page has one; a nonce cannot cover attributes, and injected CSS cannot run
# code. The JSON APIs get the same header (harmless to them); the ingest fast path skips it with the
# rest of the middleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        # Swagger UI's and the admin's icons are data: SVGs in their stylesheets.
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# Tokens never reach logs: the handler scrubs ?token=/?tok= values and auth header values from
# every message, and error reports hide the token-bearing request fields.
DEFAULT_EXCEPTION_REPORTER_FILTER = "eventsite.lib.logscrub.TokenSafeExceptionReporterFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "scrub_tokens": {"()": "eventsite.lib.logscrub.ScrubTokens"},
        "request_context": {"()": "eventsite.ops.logformat.RequestContext"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "eventsite.ops.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_context", "scrub_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Replaces Django's default handlers (incl. mail_admins, whose reports print the request).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
