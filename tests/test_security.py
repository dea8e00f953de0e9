"""Security checks: tokens kept out of logs and error reports, admin lockout per user and address.
(The failed-auth rate limit: eventsite/tests/test_ratelimit.py; check --deploy: test_settings.py.)"""

import base64
import io
import logging
import secrets

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory, override_settings

from eventsite.lib.logscrub import ScrubTokens, TokenSafeExceptionReporterFilter, scrub
from tests.logins import second_step

URL = "/api/v2/events/post_event"
EVENT = {"type": "pv", "time_utc": "2026-11-24T07:00:00Z"}


def post(client, token: str, ip: str = "10.0.0.1"):
    return client.post(URL, EVENT, content_type="application/json", headers={"X-KSense-Tok": token}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_it_keeps_tokens_out_of_django_request_logs(client, ingest_token):
    secret = "s3cr3t-" + secrets.token_hex(8)
    # The LOGGING "console" handler (the one carrying the scrub filter).
    handler = next(h for h in logging.getLogger("django").handlers
                   if any(isinstance(f, ScrubTokens) for f in h.filters))
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
    signed_in = second_step(client, ok, REMOTE_ADDR="10.0.0.8")  # a superuser: the second factor too
    assert signed_in.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get(username="admin").pk)


@pytest.mark.django_db
def test_it_still_lets_the_test_client_log_in_without_a_request(client):
    User.objects.create_user("staff", "staff@example.com", "right-password-123", is_staff=True)
    assert client.login(username="staff", password="right-password-123") is True
    assert client.get("/admin/").status_code == 200
    # A password alone (no second step) does not open the console to a superuser.
    User.objects.create_superuser("admin", "admin@example.com", "right-password-123")
    assert client.login(username="admin", password="right-password-123") is True
    refused = client.get("/admin/")
    assert refused.status_code == 302 and refused["Location"].startswith("/admin/login/")


@pytest.mark.django_db
@override_settings(AXES_FAILURE_LIMIT=3)
def test_it_answers_a_locked_out_basic_login_in_the_api_familys_json_format(client):
    # Found by fuzzing: axes answered API clients with a text/html "Account locked" page.
    User.objects.create_user("ann", password="right-password-123", is_staff=True)
    wrong = "Basic " + base64.b64encode(b"ann:wrong").decode()
    for _ in range(3):
        assert client.get("/service/authenticate", HTTP_AUTHORIZATION=wrong).status_code in (401, 429)
    right = "Basic " + base64.b64encode(b"ann:right-password-123").decode()
    barchart = client.get("/service/authenticate", HTTP_AUTHORIZATION=right)
    assert barchart.status_code == 429
    assert barchart["Content-Type"] == "application/json" and int(barchart["Retry-After"]) > 0
    assert barchart.json()[0]["value"]["code"] == "TOO_MANY_REQUESTS"
    # DRF (management API) refuses the locked-out login itself, in its own JSON.
    manage = client.get("/api/manage/datasources/", HTTP_AUTHORIZATION=right)
    assert manage.status_code in (401, 403) and manage["Content-Type"] == "application/json"
    assert "detail" in manage.json()


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "body"), [
    ("/api/v2/events/nothing", {"status": "ERROR", "message": "No such endpoint"}),
    ("/api/v1/nothing", {"status": "error", "message": "No such endpoint"}),
    ("/reports/JOB-1/availability/more", [{"value": {"code": "NOT_FOUND", "message": "No such endpoint"},
                                           "children": []}]),
])
def test_an_unrouted_api_path_is_a_json_404_in_the_familys_format(client, path, body):
    # Found by fuzzing: Django answered API clients with its HTML 404 page.
    response = client.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == body
    assert client.get("/no-such-page").headers["Content-Type"].startswith("text/html")  # not an API path


@pytest.mark.parametrize("path, family_key", [
    ("/api/manage/tokens/", "detail"), ("/api/v2/insights/purge_user", "status"), ("/service/version", None),
])
def test_a_host_outside_allowed_hosts_gets_the_familys_json_400(client, path, family_key):
    # Found by fuzzing: Django's DisallowedHost answered its HTML 400 page on API paths. (Ingest
    # paths never check the host: eventsite/http/fastpath.py skips that middleware.)
    response = client.get(path, HTTP_HOST="jz.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert family_key in body if family_key else isinstance(body, list)


def test_the_admin_keeps_djangos_400_page_for_an_unknown_host(client):
    response = client.get("/admin/login/", HTTP_HOST="jz.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
