"""Console sessions: they end after ADMIN_SESSION_IDLE_SECONDS without a request and when the user's
password changes; the cookie is HttpOnly and SameSite=Lax everywhere, Secure in production."""

import json
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests.logins import console_login

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "long-enough-pass-1"


@pytest.fixture
def staff(db):
    return User.objects.create_user("ops", password=PASSWORD, is_staff=True)


def session_row(client) -> Session:
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def signed_in(client) -> bool:
    response = client.get("/admin/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_the_idle_limit_defaults_to_one_hour():
    assert settings.ADMIN_SESSION_IDLE_SECONDS == 3600 == settings.SESSION_COOKIE_AGE
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def test_each_request_pushes_the_expiry_a_full_idle_period_ahead(client, staff):
    console_login(client, staff)
    Session.objects.filter(pk=session_row(client).pk).update(expire_date=timezone.now() + timedelta(seconds=30))
    assert signed_in(client)
    remaining = session_row(client).expire_date - timezone.now()
    assert timedelta(seconds=settings.ADMIN_SESSION_IDLE_SECONDS - 60) < remaining
    assert remaining <= timedelta(seconds=settings.ADMIN_SESSION_IDLE_SECONDS)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.ADMIN_SESSION_IDLE_SECONDS


def test_a_session_idle_past_the_limit_is_signed_out(client, staff):
    console_login(client, staff)
    assert signed_in(client)
    # As if ADMIN_SESSION_IDLE_SECONDS had passed since the last request (no sleeping).
    Session.objects.filter(pk=session_row(client).pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get("/api/manage/datasources/").status_code == 401


def test_a_password_change_signs_out_the_users_other_sessions_and_keeps_the_changers(staff):
    changer, other = Client(), Client()
    console_login(changer, staff)
    console_login(other, staff)
    assert signed_in(changer) and signed_in(other)
    response = changer.post("/admin/password_change/", {
        "old_password": PASSWORD, "new_password1": "another-long-pass-2", "new_password2": "another-long-pass-2"})
    assert response.status_code == 302 and response["Location"].endswith("/admin/password_change/done/")
    staff.refresh_from_db()
    assert staff.check_password("another-long-pass-2")
    assert signed_in(changer)
    assert not signed_in(other)


def test_a_password_set_by_a_superuser_signs_out_the_users_sessions(staff):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    admin, user = Client(), Client()
    console_login(admin, root)
    console_login(user, staff)
    assert signed_in(user)
    response = admin.post(f"/admin/auth/user/{staff.pk}/password/", {
        "password1": "another-long-pass-2", "password2": "another-long-pass-2"})
    assert response.status_code == 302
    assert not signed_in(user)
    assert signed_in(admin)


def test_the_session_cookie_is_httponly_and_samesite_lax(client, staff):
    response = client.post("/admin/login/?next=/admin/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"


def _production_settings(**extra) -> dict:
    script = ("import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) for k in "
              "('SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SECURE', "
              "'SESSION_COOKIE_AGE', 'SESSION_SAVE_EVERY_REQUEST')}))")
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTSITE_TESTING", "SECURE_COOKIES")}
    env.update(DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused", SECRET_KEY=secrets.token_urlsafe(60),
               ALLOWED_HOSTS="events.example.com", **extra)
    done = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {script}"], cwd=ROOT,
                          env={**env, "DJANGO_SETTINGS_MODULE": "eventsite.settings"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_production_cookies_are_secure_httponly_and_lax(tmp_path):
    values = _production_settings(EVENTSITE_VAR_DIR=str(tmp_path))
    assert values == {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_HTTPONLY": True, "SESSION_COOKIE_SAMESITE": "Lax",
                      "CSRF_COOKIE_SECURE": True, "SESSION_COOKIE_AGE": 3600, "SESSION_SAVE_EVERY_REQUEST": True}


def test_the_idle_limit_is_configurable(tmp_path):
    values = _production_settings(EVENTSITE_VAR_DIR=str(tmp_path), ADMIN_SESSION_IDLE_SECONDS="900")
    assert values["SESSION_COOKIE_AGE"] == 900


def test_an_idle_limit_under_a_minute_stops_start_up(tmp_path):
    from eventsite.tests.test_settings import run_check

    result = run_check(EVENTSITE_VAR_DIR=str(tmp_path), ADMIN_SESSION_IDLE_SECONDS="10")
    assert result.returncode != 0 and "ADMIN_SESSION_IDLE_SECONDS" in result.stderr
