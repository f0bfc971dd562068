"""The one settings module. Everything that differs between machines comes from the
environment (see docs/configuration.md); nothing exists only in production."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from fangkong.lib.env import env_bool, env_int, env_list, env_str, read_or_create_secret

PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(env_str("FANGKONG_VAR_DIR", str(Path.cwd() / "var"))).resolve()
SECRETS_DIR = Path(env_str("FANGKONG_SECRETS_DIR", str(VAR_DIR / "secrets"))).resolve()

DEBUG = env_bool("FANGKONG_DEBUG", False)

SECRET_KEY = env_str("FANGKONG_SECRET_KEY", "") or read_or_create_secret(
    SECRETS_DIR / "secret.key", nbytes=48
)
# The data key encrypts ID numbers and phones at rest and keys their blind index.
# Lose it and those fields cannot be read again: see docs/keys.md. Generated on first run
# only for the embedded database; a shared database (DATABASE_URL) needs the one key that
# every process of the installation uses, given explicitly.
_DATA_KEY_FILE = env_str("FANGKONG_DATA_KEY_FILE", "")
if env_str("FANGKONG_DATA_KEY", ""):
    DATA_KEY = env_str("FANGKONG_DATA_KEY", "")
elif _DATA_KEY_FILE:
    if not Path(_DATA_KEY_FILE).exists():
        raise ImproperlyConfigured(f"FANGKONG_DATA_KEY_FILE={_DATA_KEY_FILE} does not exist")
    DATA_KEY = Path(_DATA_KEY_FILE).read_text().strip()
elif env_str("DATABASE_URL", ""):
    raise ImproperlyConfigured(
        "DATABASE_URL is set but no data key is: set FANGKONG_DATA_KEY or "
        "FANGKONG_DATA_KEY_FILE to the key of this installation (docs/keys.md). A key made "
        "up here would seal data that the other processes cannot read.")
else:
    DATA_KEY = read_or_create_secret(SECRETS_DIR / "data.key", nbytes=32)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "fangkong.accounts",
    "fangkong.places",
    "fangkong.residents",
    "fangkong.audit",
    "fangkong.jobs",
    "fangkong.rosters",
    "fangkong.isolation",
    "fangkong.followup",
    "fangkong.care",
    "fangkong.errands",
    "fangkong.passes",
    "fangkong.synth",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",  # serves the OpenAPI UI's files locally instead of from a CDN
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fangkong.urls"
ASGI_APPLICATION = "fangkong.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fangkong.accounts.context_processors.capabilities",
            ],
        },
    }
]

# SQLite under var/ by default; PostgreSQL (psycopg 3) for a city via DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'fangkong.sqlite3'}"),
        # 0 under ASGI, as Django advises: each request runs in its own thread.
        conn_max_age=env_int("FANGKONG_DB_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Writers queue for the lock instead of failing; readers never block (WAL).
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA temp_store=MEMORY;"
            "PRAGMA cache_size=-65536;"
            "PRAGMA mmap_size=268435456"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif env_bool("FANGKONG_DB_POOL", True) and not DATABASES["default"]["CONN_MAX_AGE"]:
    # Under ASGI every request runs in a thread of its own, so without a pool each one
    # opened a new PostgreSQL connection (a new server process each time). The pool keeps
    # them per web process; FANGKONG_MAX_IN_FLIGHT requests use them at a time, plus the
    # embedded worker's threads.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2, "max_size": env_int("FANGKONG_DB_POOL_SIZE", 10), "timeout": 20}

# What several processes must share (the SMS webhooks' nonces, the building check-in's
# wrong tries) lives in the cache: in memory for the embedded database, whose one process
# serves everything; in a table of the shared database otherwise, so every web process
# and machine sees the same counts. No other server is needed.
CACHES = {"default": (
    {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "fangkong_cache"}
    if env_str("DATABASE_URL", "") else
    {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"})}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "places:home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = env_str("FANGKONG_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from here after collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# After this many wrong passwords for one user name within the window, logins for that
# name pause until the window has passed (counted from the audit log).
LOGIN_MAX_FAILURES = env_int("FANGKONG_LOGIN_MAX_FAILURES", 10)
LOGIN_LOCKOUT_MINUTES = env_int("FANGKONG_LOGIN_LOCKOUT_MINUTES", 15)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("FANGKONG_SESSION_SECONDS", 12 * 3600)
SESSION_COOKIE_SECURE = env_bool("FANGKONG_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a reverse proxy: trust its X-Forwarded-Proto, and take the client's address from
# the last entry of X-Forwarded-For (the one the proxy added), for the audit log and the
# rate limits of the public pages.
BEHIND_PROXY = env_bool("FANGKONG_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("FANGKONG_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Background dispatcher: how long a claimed job stays leased before another worker may
# take it over, and how often an idle worker looks for due work.
JOB_LEASE_SECONDS = env_int("FANGKONG_JOB_LEASE_SECONDS", 300)

# The follow-up robot (docs/configuration.md).
# How long a worker holds the contacts it is trying before another worker may take them.
FOLLOWUP_LEASE_SECONDS = env_int("FANGKONG_FOLLOWUP_LEASE_SECONDS", 120)
# ... and the contacts of a batch of calls, while the calls last (ringing, the questions).
FOLLOWUP_CALL_LEASE_SECONDS = env_int("FANGKONG_FOLLOWUP_CALL_LEASE_SECONDS", 900)
VOICE_RECORDINGS_KEEP_DAYS = env_int("FANGKONG_VOICE_RECORDINGS_KEEP_DAYS", 14)
# Health answers are erased this many days after their round closed (the counts stay).
FOLLOWUP_KEEP_DAYS = env_int("FANGKONG_FOLLOWUP_KEEP_DAYS", 30)
# Requests inside Django at a time per web server process; the others wait their turn
# (fangkong/asgi.py). Bounds the threads and database connections of a process.
MAX_IN_FLIGHT = env_int("FANGKONG_MAX_IN_FLIGHT", 4)
# Passages at the gates and visitors' registrations are deleted after this many days.
GATES_KEEP_DAYS = env_int("FANGKONG_GATES_KEEP_DAYS", 30)
# Residents' login by phone and a code sent by SMS, to see their pass: limits per hour.
PASSES_CODES_PER_PHONE_HOUR = env_int("FANGKONG_PASSES_CODES_PER_PHONE_HOUR", 3)
PASSES_CODES_PER_IP_HOUR = env_int("FANGKONG_PASSES_CODES_PER_IP_HOUR", 10)
PASSES_CODE_TRIES_PER_IP_HOUR = env_int("FANGKONG_PASSES_CODE_TRIES_PER_IP_HOUR", 30)
# A TrueType font with Chinese glyphs for the printed pass sheets; empty: WenQuanYi or Noto
# CJK when installed, else the PDF viewer's own Song typeface (STSong-Light).
PASSES_SHEET_FONT = env_str("FANGKONG_PASSES_SHEET_FONT", "")
# The address residents reach the web forms at (links in SMS and QR codes).
PUBLIC_URL = env_str("FANGKONG_PUBLIC_URL", "http://127.0.0.1:8000")
# Without an SMS gateway every channel runs on the simulated carrier (demo, tests).
SMS_GATEWAY_URL = env_str("FANGKONG_SMS_GATEWAY_URL", "")
SMS_ACCOUNT = env_str("FANGKONG_SMS_ACCOUNT", "")
SMS_SECRET = env_str("FANGKONG_SMS_SECRET", "")
SMS_SIGN = env_str("FANGKONG_SMS_SIGN", "")
SIM_SEED = env_int("FANGKONG_SIM_SEED", 2020)
# Robot calls over SIP (docs/voice.md): the trunk or PBX the line machines (`fangkong
# lines`) call through; empty = no telephony (voice is simulated or fails honestly).
SIP_TRUNK = env_str("FANGKONG_SIP_TRUNK", "")  # "host:port" or "sip:host:port"
SIP_USER = env_str("FANGKONG_SIP_USER", "fangkong")  # the caller ID the trunk shows
SIP_DISPLAY_NAME = env_str("FANGKONG_SIP_DISPLAY_NAME", "")
SIP_PASSWORD = env_str("FANGKONG_SIP_PASSWORD", "")  # registration / digest credentials
SIP_REGISTER = env_bool("FANGKONG_SIP_REGISTER", False)
SIP_LINES = env_int("FANGKONG_SIP_LINES", 8)  # concurrent calls of one line machine
# The dialling rate of one line machine, calls a second (0.5: one every two seconds).
SIP_CALLS_PER_SECOND = float(env_str("FANGKONG_SIP_CALLS_PER_SECOND", "5"))
# The local address the lines bind SIP and RTP to; empty: loopback for a trunk on this
# machine, every interface (0.0.0.0) for one elsewhere.
SIP_LISTEN_ADDRESS = env_str("FANGKONG_SIP_LISTEN_ADDRESS", "")
# Keep baresip's own logs under var/voice (they name every number dialled): for debugging.
SIP_DEBUG_LOG = env_bool("FANGKONG_SIP_DEBUG_LOG", False)
SIP_RING_SECONDS = env_int("FANGKONG_SIP_RING_SECONDS", 30)
SIP_PORT_BASE = env_int("FANGKONG_SIP_PORT_BASE", 21000)  # local ports from here on
# Failures of the trunk itself in a row (no answer from it, 5xx) before the lines pause.
SIP_TRUNK_FAILURES = env_int("FANGKONG_SIP_TRUNK_FAILURES", 3)
# Calls to one number in 24 hours at most (carriers block numbers that redial).
VOICE_CALLS_PER_NUMBER = env_int("FANGKONG_VOICE_CALLS_PER_NUMBER", 3)
# Speech recognition plug-in ("vosk" or "module:Class") and its model folder.
VOICE_ASR = env_str("FANGKONG_VOICE_ASR", "")
VOICE_ASR_MODEL = env_str("FANGKONG_VOICE_ASR_MODEL", "")
# Care for the workers (docs/configuration.md). The shift rota's hard rules, which the
# workload page also warns by: at most this many working days in a row and hours in a
# week, at least this many rest days a week and hours between two shifts.
CARE_MAX_CONSECUTIVE_DAYS = env_int("FANGKONG_CARE_MAX_CONSECUTIVE_DAYS", 6)
CARE_MAX_WEEKLY_HOURS = env_int("FANGKONG_CARE_MAX_WEEKLY_HOURS", 48)
CARE_MIN_REST_DAYS_PER_WEEK = env_int("FANGKONG_CARE_MIN_REST_DAYS_PER_WEEK", 1)
CARE_MIN_REST_HOURS = env_int("FANGKONG_CARE_MIN_REST_HOURS", 11)
# Seconds the solver may spend on one community's rota (the page waits for it).
CARE_ROTA_SECONDS = env_int("FANGKONG_CARE_ROTA_SECONDS", 5)
# ... and on the rotas of all communities of a street at once (shared among them).
CARE_AREA_ROTA_SECONDS = env_int("FANGKONG_CARE_AREA_ROTA_SECONDS", 8)
# A worker is overloaded above these (residents they look after, open alerts, door
# visits waiting); the community secretary is warned once a day.
CARE_OVERLOAD_RESIDENTS = env_int("FANGKONG_CARE_OVERLOAD_RESIDENTS", 500)
CARE_OVERLOAD_ALERTS = env_int("FANGKONG_CARE_OVERLOAD_ALERTS", 20)
CARE_OVERLOAD_VISITS = env_int("FANGKONG_CARE_OVERLOAD_VISITS", 30)
# Channels with nothing real behind them (no SMS gateway; robot calls until a telephony
# channel exists) are simulated only where that is wanted: by default only for the demo's
# own database (made by `fangkong demo`, which leaves its logins in var/). Anywhere else
# such a step fails honestly and the plan falls back to the next one (a door visit)
# instead of recording made-up answers for real residents.
SIMULATE_CHANNELS = env_bool("FANGKONG_SIMULATE_CHANNELS",
                             not env_str("DATABASE_URL", "")
                             and (VAR_DIR / "demo-logins.json").exists())
WORKER_POLL_SECONDS = env_int("FANGKONG_WORKER_POLL_SECONDS", 2)

# Roster imports: the largest file accepted, and how long the uploaded file and the rows
# prepared from it (both sealed) are kept after the import ended, for the error report.
IMPORT_MAX_BYTES = env_int("FANGKONG_IMPORT_MAX_MB", 200) * 2**20
IMPORT_KEEP_DAYS = env_int("FANGKONG_IMPORT_KEEP_DAYS", 7)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 2**20
