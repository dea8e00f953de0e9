"""Failed authentication is rate-limited per address; the limiter fails open."""

import socket

import pytest
from django.contrib.auth.models import User

from events.models import Event
from eventsite.http.auth import report_user_authenticate

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
    # A guess that happens to be right is refused too while the address is limited.
    assert post(client, ingest_token.raw).status_code == 429
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
