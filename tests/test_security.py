"""Security checks: failed-auth rate limit, tokens kept out of logs, admin lockout, check --deploy."""

import base64
import io
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import RequestFactory, override_settings

from events.models import Event
from eventsite.lib import ratelimit
from eventsite.lib.errors import AuthenticationFailed, TooManyRequests
from eventsite.lib.logscrub import ScrubTokens, TokenSafeExceptionReporterFilter, scrub
from reports.authentication import report_user_authenticate

ROOT = Path(__file__).resolve().parent.parent
URL = "/api/v2/events/post_event"
EVENT = {"type": "pv", "time_utc": "2026-11-24T07:00:00Z"}


def post(client, token: str, ip: str = "10.0.0.1"):
    return client.post(URL, EVENT, content_type="application/json", headers={"X-KSense-Tok": token}, REMOTE_ADDR=ip)


@pytest.mark.django_db
@override_settings(AUTH_FAILURE_LIMIT=5, AUTH_FAILURE_WINDOW_SECONDS=60)
def test_it_answers_429_with_retry_after_once_token_failures_exceed_the_limit(client, ingest_token):
    statuses = [post(client, "wrong-" + str(i)).status_code for i in range(5)]
    assert statuses == [401] * 5
    refused = post(client, "wrong-again")
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert refused.json()["status"] == "ERROR"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Blocked means blocked: even the right token waits until the window ends (no brute force).
    assert post(client, ingest_token.raw).status_code == 429
    assert Event.objects.count() == 0
    # Another client IP is unaffected.
    assert post(client, ingest_token.raw, ip="10.0.0.2").status_code == 200
    assert Event.objects.count() == 1


@pytest.mark.django_db
@override_settings(AUTH_FAILURE_LIMIT=3)
def test_it_never_counts_successful_requests(client, ingest_token):
    for _ in range(10):
        assert post(client, ingest_token.raw).status_code == 200
    assert Event.objects.count() == 10
    assert [post(client, "wrong").status_code for _ in range(3)] == [401] * 3


@pytest.mark.django_db
@override_settings(
    AUTH_FAILURE_LIMIT=2,
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "deadredis": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:18599/0",  # nothing listens here
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    },
    AUTH_FAILURE_CACHE="deadredis",
)
def test_it_fails_open_when_the_cache_is_down(client, ingest_token):
    caches["deadredis"]
    statuses = [post(client, "wrong").status_code for _ in range(5)]
    assert statuses == [401] * 5  # never 429, never 500
    assert post(client, ingest_token.raw).status_code == 200
    assert Event.objects.count() == 1


@pytest.mark.django_db
@override_settings(AUTH_FAILURE_LIMIT=3)
def test_it_rate_limits_failed_basic_authentication_of_report_users():
    User.objects.create_user("rita", password="right-password-123", is_staff=True)
    factory = RequestFactory()

    def request(password: str):
        credentials = base64.b64encode(f"rita:{password}".encode()).decode()
        return factory.get("/reports", HTTP_AUTHORIZATION=f"Basic {credentials}", REMOTE_ADDR="10.0.0.9")

    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            report_user_authenticate(request("wrong"))
    with pytest.raises(TooManyRequests) as refused:
        report_user_authenticate(request("wrong"))
    assert refused.value.status_code == 429 and refused.value.retry_after >= 1
    with pytest.raises(TooManyRequests):
        report_user_authenticate(request("right-password-123"))
    ratelimit.reset()
    caches["default"].clear()
    assert report_user_authenticate(request("right-password-123")).customer is None


@pytest.mark.django_db
def test_it_keeps_tokens_out_of_django_request_logs(client, ingest_token):
    secret = "s3cr3t-" + secrets.token_hex(8)
    # The LOGGING "console" handler (the one carrying the scrub filter).
    handler = next(h for h in logging.getLogger("django").handlers if any(isinstance(f, ScrubTokens) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        client.post(f"{URL}?token={secret}&x=1", EVENT, content_type="application/json")
        client.post(URL, EVENT, content_type="application/json", headers={"X-KSense-Tok": secret})
        client.post(URL, EVENT, content_type="application/json", headers={"Authorization": f"Bearer {secret}"})
        # A message that does quote a URL and header (e.g. from a library) is scrubbed as well.
        logging.getLogger("django.request").warning("failed GET /x?tok=%s X-KSense-Tok: %s", secret, secret)
    finally:
        handler.setStream(previous)
    output = stream.getvalue()
    assert "Unauthorized: /api/v2/events/post_event" in output
    assert "[redacted]" in output
    assert secret not in output


def test_it_scrubs_token_values_and_hides_them_in_error_reports():
    assert scrub("GET /a?x=1&token=abc&tok=def") == "GET /a?x=1&token=[redacted]&tok=[redacted]"
    assert "abc" not in scrub("{'HTTP_X_KSENSE_TOK': 'abc'}")
    assert "abc" not in scrub("Authorization: Basic abc=")
    request = RequestFactory().get("/a?token=abc", HTTP_X_KSENSE_TOK="abc", HTTP_AUTHORIZATION="Bearer abc")
    meta = TokenSafeExceptionReporterFilter().get_safe_request_meta(request)
    assert "abc" not in str({k: meta[k] for k in ("HTTP_X_KSENSE_TOK", "HTTP_AUTHORIZATION", "QUERY_STRING")})


@pytest.mark.django_db
@override_settings(AXES_FAILURE_LIMIT=3)
def test_it_locks_an_admin_login_out_after_repeated_failures(client):
    User.objects.create_superuser("admin", "admin@example.com", "right-password-123")
    for _ in range(3):
        failed = client.post("/admin/login/", {"username": "admin", "password": "wrong"}, REMOTE_ADDR="10.0.0.7")
        assert failed.status_code in (200, 429)
    locked = client.post(
        "/admin/login/", {"username": "admin", "password": "right-password-123"}, REMOTE_ADDR="10.0.0.7"
    )
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # The same user from another address still gets in (lockout is per username + IP).
    ok = client.post("/admin/login/", {"username": "admin", "password": "right-password-123"}, REMOTE_ADDR="10.0.0.8")
    assert ok.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get(username="admin").pk)


def test_it_passes_check_deploy_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTSITE_TESTING", "DEBUG", "SECURE_SSL_REDIRECT")}
    env.update(
        # check --deploy does not connect to the database; any PostgreSQL URL will do.
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="events.example.com",
        EVENTSITE_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="eventsite.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_it_still_lets_the_test_client_log_in_without_a_request(client):
    User.objects.create_superuser("admin", "admin@example.com", "right-password-123")
    assert client.login(username="admin", password="right-password-123") is True
    assert client.get("/admin/").status_code == 200
