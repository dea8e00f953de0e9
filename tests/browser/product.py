"""The product as an operator runs it, for browser tests.

`live_product` starts what `make run` starts, the production way: gunicorn with eventsite.gunicorn_conf
(bench.soak.live_gunicorn) and a Celery worker (both queues), on a database of its own: `<DATABASE_URL's name>_browser`
on PostgreSQL when DATABASE_URL is set (recreated, dropped afterwards), else the embedded default
(SQLite and the filesystem broker in a scratch var dir). It is migrated, its static files collected
(whitenoise serves them as in production) and a staff user created with `manage.py createsuperuser`.
`sign_in` goes through the console's sign-in as a person does: password, then enrolment or a code.

Tests talk to it over HTTP only (the browser, the management API) and read its database with `sql()`,
so they see what an operator would, from another process.
"""

import contextlib
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from base64 import b32decode
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import requests
from django_otp.oath import TOTP, hotp

from bench.soak import ROOT, live_gunicorn, stop_process_group
from tests.logins import code_for_secret

STAFF_USERNAME = "staff"


@dataclass
class Enrolment:
    """What enrolling shows once: the authenticator app's secret and the backup codes."""

    secret: str
    backup_codes: list[str]


@dataclass
class Product:
    url: str
    env: dict[str, str]
    database_url: str | None  # None: SQLite at sqlite_path
    sqlite_path: Path | None
    log_dir: Path
    staff_password: str = field(repr=False, default="")
    staff_secret: str = field(repr=False, default="")  # the staff user's authenticator, once enrolled
    # The staff user's personal API token: a superuser must not use the management API with a password.
    staff_api_token: str = field(repr=False, default="")

    def manage(self, *args: str, stdin: str | None = None) -> str:
        """Run a manage.py command against this product (its database, its settings); return stdout."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read-only query on the product's database (%s placeholders on both backends)."""
        if self.database_url is None:
            with contextlib.closing(sqlite3.connect(self.sqlite_path, timeout=20)) as db:
                return db.execute(query.replace("%s", "?"), params).fetchall()
        with contextlib.closing(psycopg2.connect(self.database_url)) as db, db.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def scalar(self, query: str, params: tuple = ()):
        return self.sql(query, params)[0][0]

    def api(self) -> requests.Session:
        """The management API as the staff user (its personal API token)."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.staff_api_token}"
        return session

    def create_superuser(self, username: str) -> None:
        """Another superuser, with the staff user's password (DJANGO_SUPERUSER_PASSWORD)."""
        self.manage("createsuperuser", "--noinput", "--username", username, "--email", f"{username}@example.com")

    def totp_code(self, username: str, secret: str) -> str:
        """What the user's authenticator app (holding `secret`) shows now, and the server takes now:
        its device takes each time step once, so never a step at or before the last one it took."""
        last_t, drift = self.sql("SELECT d.last_t, d.drift FROM otp_totp_totpdevice d JOIN auth_user u "
                                 "ON u.id = d.user_id WHERE u.username = %s AND d.confirmed", (username,))[0]
        key = b32decode("".join(secret.split()))
        return f"{hotp(key, max(TOTP(key, drift=drift).t(), last_t + 1)):06d}"

    def sign_in(self, page, username: str, password: str, *, secret: str | None = None) -> "Enrolment | None":
        """Sign `username` in to the console through the real forms, landing on /admin/: the password,
        then a code from `secret`, or, for a user without a device, enrolment (the secret read from the
        page, the backup codes from the page after it). Return the enrolment, if one happened."""
        page.goto("/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r"/admin/(twofactor/(enrol|code)/.*)?$"))
        enrolment = None
        if "/twofactor/enrol/" in page.url:
            secret = page.inner_text("#totp-secret")
            page.fill("#id_code", code_for_secret(secret))
            page.click("#twofactor-enrol-form input[type=submit]")
            page.wait_for_url(re.compile(r"/admin/twofactor/codes/"))
            enrolment = Enrolment(secret=secret, backup_codes=page.locator("#backup-codes code").all_inner_texts())
            page.click("#backup-codes-continue")
        elif "/twofactor/code/" in page.url:
            assert secret, f"{username} has a device: sign_in needs its secret"
            page.fill("#id_code", self.totp_code(username, secret))
            page.click("#twofactor-code-form input[type=submit]")
        page.wait_for_url(re.compile(r"/admin/$"))
        return enrolment

    def post_events(self, token: str, events: list[dict]) -> requests.Response:
        return requests.post(f"{self.url}/api/v2/events/post_event", json=events, headers={"X-KSense-Tok": token},
                             timeout=30)


def _recreate_postgres_database(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_browser"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with contextlib.closing(psycopg2.connect(admin)) as db:
        db.autocommit = True
        with db.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_postgres_database(url: str) -> None:
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with contextlib.closing(psycopg2.connect(admin)) as db:
        db.autocommit = True
        with db.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


@contextlib.contextmanager
def _worker(env: dict[str, str], log_dir: Path):
    log = open(log_dir / "worker.log", "ab")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        # One worker for both queues the Procfile splits over `worker` and `exports`.
        [sys.executable, "-m", "celery", "-A", "eventsite", "worker", "--queues", "celery,exports",
         "--loglevel", "WARNING", "--concurrency", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
    )
    try:
        yield process
    finally:
        stop_process_group(process)
        log.close()


@contextlib.contextmanager
def live_product(*, log_dir: Path, postgres_url: str | None):
    """Yield a running Product; postgres_url None runs the embedded default."""
    var_dir = log_dir / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    database_url = _recreate_postgres_database(postgres_url) if postgres_url else None
    password = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTSITE_TESTING", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(
        SECRET_KEY=secrets.token_urlsafe(60), ALLOWED_HOSTS="127.0.0.1,localhost", SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false", EVENTSITE_VAR_DIR=str(var_dir), LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT),
        DJANGO_SUPERUSER_PASSWORD=password,
    )
    product = Product(url="", env=env, database_url=database_url, log_dir=log_dir,
                      sqlite_path=None if database_url else var_dir / "eventsite.sqlite3", staff_password=password)
    try:
        with ThreadPoolExecutor(2) as pool:  # independent: run side by side
            steps = [pool.submit(product.manage, *command) for command in (
                ("migrate", "--noinput", "--verbosity", "0"), ("collectstatic", "--noinput", "--verbosity", "0"))]
            for step in steps:
                step.result()
        product.manage("createsuperuser", "--noinput", "--username", STAFF_USERNAME, "--email", "staff@example.com")
        product.staff_api_token = product.manage(
            "issue_personal_token", STAFF_USERNAME, "--label", "browser tests").strip()
        server_env = {k: env[k] for k in ("SECRET_KEY", "EVENTSITE_VAR_DIR", "LOG_LEVEL")}
        with (
            live_gunicorn(database_url=database_url, log_dir=log_dir, **server_env) as (port, _gunicorn),
            _worker(env, log_dir),
        ):
            product.url = f"http://127.0.0.1:{port}"
            yield product
    finally:
        if database_url:
            # gunicorn and the worker are gone; their connections close with them.
            time.sleep(0.2)
            _drop_postgres_database(database_url)
