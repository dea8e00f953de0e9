"""Failed authentication is rate-limited per address; the limiter fails open."""

import os
import socket
import subprocess
import sys

import pytest
from django.contrib.auth.models import User

from bench.soak import ROOT, live_gunicorn
from events.models import Event
from eventsite.http.auth import report_user_authenticate
from eventsite.lib.access import VIEWERS
from tests.factories import make_staff
from tests.live import post_event

URL = "/api/v2/events/post_event"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _away_from_a_window_edge():
    # Counts live in fixed one-minute windows: a test straddling a boundary would see its
    # count reset halfway. Start each test at least 10 s before the next boundary.
    import time

    from eventsite.http.ratelimit import WINDOW_SECONDS

    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 10:
        time.sleep(left + 0.05)


def post(client, token, address="10.9.8.7"):
    return client.post(URL, {"type": "pv"}, content_type="application/json", headers={"X-KSense-Tok": token},
                       REMOTE_ADDR=address)


def test_it_answers_429_after_too_many_bad_tokens(client, ingest_token, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    assert [post(client, "evs_wrong").status_code for _ in range(3)] == [401, 401, 401]
    limited = post(client, "evs_wrong")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["status"] == "ERROR"
    # A token that verifies is never refused, even from a limited address (it was 429).
    assert post(client, ingest_token.raw).status_code == 200
    assert Event.objects.count() == 1


def test_a_valid_uncached_purge_token_answers_200_after_45_bad_tokens_from_its_address(client, ingest_token,
                                                                                      purge_token):
    # The limit was checked before the credential: the right token answered 429 (issue 11, defect 2).
    client.post(URL, [{"type": "pv", "user_id": {"email": "a@example.com"}}], content_type="application/json",
                headers={"X-KSense-Tok": ingest_token.raw})
    assert [post(client, f"evs_wrong{i}").status_code for i in range(45)][-1] == 429
    query = {"ds": "web", "user_id": "a@example.com", "user_id_type": "email"}
    response = client.get("/api/v2/insights/purge_user", query, headers={"X-KSense-Tok": purge_token.raw},
                          REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 200, response.content
    assert Event.objects.count() == 0


def test_other_addresses_and_known_tokens_are_unaffected(client, ingest_token, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    assert post(client, ingest_token.raw, address="10.0.0.1").status_code == 200  # now cached
    for _ in range(3):
        post(client, "evs_wrong", address="10.0.0.1")
    assert post(client, "evs_wrong", address="10.0.0.1").status_code == 429
    assert post(client, ingest_token.raw, address="10.0.0.2").status_code == 200
    assert Event.objects.count() == 2


def test_requests_without_any_token_are_not_counted(client, datasource, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    statuses = {client.post(URL, {"type": "pv"}, content_type="application/json").status_code for _ in range(5)}
    assert statuses == {401}


def test_basic_auth_failures_are_limited_too(rf, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    User.objects.create_user("ann", password="right-password-1")
    import base64

    from eventsite.lib.errors import AuthenticationFailed, TooManyRequests

    def attempt(password):
        request = rf.get("/service/authenticate", REMOTE_ADDR="10.1.1.1",
                         HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"ann:{password}".encode()).decode())
        return report_user_authenticate(request)

    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            attempt("wrong")
    with pytest.raises(TooManyRequests):
        attempt("right-password-1")


def test_it_fails_open_when_the_cache_is_down(client, ingest_token, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CACHES = {**settings.CACHES, "ratelimit": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    # Overriding CACHES makes Django rebuild its cache handlers: this one points at nothing.
    settings.AUTH_FAILURE_LIMIT = 1
    assert [post(client, "evs_wrong").status_code for _ in range(3)] == [401, 401, 401]
    assert post(client, ingest_token.raw).status_code == 200
    assert Event.objects.count() == 1


def test_admin_login_locks_out_after_repeated_failures(client, settings):
    User.objects.create_superuser("boss", "boss@example.com", "correct-horse-9")
    statuses = [client.post("/admin/login/?next=/admin/", {"username": "boss", "password": "nope"}).status_code
                for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the form again, then locked out
    locked = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": "correct-horse-9"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("header, count, expected", [
    ("203.0.113.9", 1, "203.0.113.9"),                       # X-Real-IP written by the proxy
    ("6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),              # the client wrote the first entry
    ("6.6.6.6, 203.0.113.9, 10.0.0.5", 2, "203.0.113.9"),    # a CDN, then a load balancer
    ("203.0.113.9", 2, "10.1.1.1"),                          # fewer entries than proxies: REMOTE_ADDR
])
def test_the_client_address_is_the_right_most_one_added_by_the_trusted_proxies(rf, settings, header, count,
                                                                               expected):
    from eventsite.http.ratelimit import client_address

    settings.AUTH_CLIENT_IP_HEADER, settings.AUTH_TRUSTED_PROXY_COUNT = "HTTP_X_FORWARDED_FOR", count
    assert client_address(rf.get("/", HTTP_X_FORWARDED_FOR=header, REMOTE_ADDR="10.1.1.1")) == expected


def test_rotating_made_up_forwarded_addresses_does_not_escape_the_limit(client, datasource, settings):
    # X-Forwarded-For's first entry was trusted: each made-up one was a fresh address (issue 11, defect 2).
    settings.AUTH_CLIENT_IP_HEADER, settings.AUTH_FAILURE_LIMIT = "HTTP_X_FORWARDED_FOR", 3
    statuses = [client.post(URL, {"type": "pv"}, content_type="application/json",
                            headers={"X-KSense-Tok": "evs_wrong", "X-Forwarded-For": f"6.6.6.{i}, 203.0.113.9"})
                .status_code for i in range(5)]
    assert all(status in (401, 403) for status in statuses[:3]) and statuses[3:] == [429, 429]
    assert Event.objects.count() == 0


def basic(username: str, password: str, address: str) -> dict:
    import base64

    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"headers": {"Authorization": f"Basic {encoded}"}, "REMOTE_ADDR": address}


def test_management_basic_auth_is_limited_per_address_before_any_password_check(client, settings):
    # Each attempt ran PBKDF2, unlimited: unknown-username floods filled both cores (issue 11, defect 3).
    from axes.models import AccessAttempt

    settings.AUTH_FAILURE_LIMIT = 3
    make_staff("ops", VIEWERS)
    statuses = [client.get("/api/manage/datasources/", **basic(f"nobody{i}", "x", "10.7.7.7")).status_code
                for i in range(5)]
    assert all(status in (401, 403) for status in statuses[:3]) and statuses[3:] == [429, 429]
    limited = client.get("/api/manage/datasources/", **basic("nobody9", "x", "10.7.7.7"))
    assert limited.json()["code"] == "TOO_MANY_REQUESTS" and int(limited["Retry-After"]) >= 1
    # Only the three checked attempts reached the password check (django-axes logs each failure).
    assert sorted(AccessAttempt.objects.values_list("username", flat=True)) == ["nobody0", "nobody1", "nobody2"]
    assert client.get("/api/manage/datasources/", **basic("ops", "long-enough-pass-1", "10.7.7.8")).status_code == 200


def test_basic_auth_failures_are_also_limited_per_username_across_addresses(client, settings):
    # Beside the per-address limit: rotating addresses still gets AUTH_FAILURE_LIMIT guesses a minute at a user.
    settings.AUTH_FAILURE_LIMIT = 3
    make_staff("ops", VIEWERS)
    statuses = [client.get("/api/manage/datasources/", **basic("ops", "wrong", f"10.6.0.{i}")).status_code
                for i in range(4)]
    assert all(status in (401, 403) for status in statuses[:3]) and statuses[3] == 429
    assert client.get("/api/manage/datasources/", **basic("someone", "wrong", "10.6.1.1")).status_code in (401, 403)


@pytest.mark.slow
def test_it_shares_failed_auth_counts_between_processes_in_embedded_mode(tmp_path):
    # Embedded mode has no Redis: the counters live in files under var/, which every process
    # (each gunicorn worker is one) reads and writes. A per-process cache let each worker count
    # on its own, so an address had AUTH_FAILURE_LIMIT attempts per worker (issue 11).
    var = tmp_path / "var"
    embedded = {"EVENTSITE_VAR_DIR": str(var), "DATABASE_URL": "", "REDIS_URL": "", "AUTH_FAILURE_LIMIT": "6"}
    environment = {k: v for k, v in os.environ.items() if k not in ("EVENTSITE_TESTING", "DJANGO_SETTINGS_MODULE")}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env={**environment, **embedded}, timeout=300)
    # Two servers on one var/ (processes as gunicorn's workers are, but which one serves a request
    # is certain): the failures counted by the first must refuse the attempts at the second.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (live_gunicorn(database_url=None, log_dir=tmp_path / "a", **embedded) as (first, _a),
          live_gunicorn(database_url=None, log_dir=tmp_path / "b", **embedded) as (second, _b)):
        failures = [post_event(first, f"wrong-{i}", [{"type": "pv"}]) for i in range(6)]
        refused = [post_event(second, f"wrong-{i}", [{"type": "pv"}]) for i in range(6, 9)]
    assert failures == [401] * 6
    assert refused == [429] * 3
    assert any((var / "ratelimit").iterdir())  # the shared counters

