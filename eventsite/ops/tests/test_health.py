"""/healthz and /readyz: answered for a load balancer calling by IP over plain http, JSON, and
never hanging on a blackholed dependency."""

import contextlib
import socket
import time
import urllib.error
import urllib.request

import orjson
import pytest
from django.test import override_settings

from bench.soak import live_gunicorn


@contextlib.contextmanager
def blackhole():
    """A port on 127.0.0.1 that accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


@override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["events.example.com"])
def test_it_answers_healthz_by_ip_over_plain_http(client):
    response = client.get("/healthz", HTTP_HOST="10.20.30.40")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert orjson.loads(response.content) == {"status": "ok"}
    assert len(response["X-Request-ID"]) == 32
    # Everything else still goes through ALLOWED_HOSTS and the redirect.
    assert client.get("/service/version", HTTP_HOST="10.20.30.40").status_code == 400
    assert client.get("/service/version", HTTP_HOST="events.example.com").status_code == 301


@pytest.mark.django_db(transaction=True)
@override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["events.example.com"])
def test_it_reports_each_dependency_ready_with_its_timing(client):
    response = client.get("/readyz", HTTP_HOST="10.20.30.40")
    body = orjson.loads(response.content)
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {"database", "broker", "storage"} <= set(body["checks"])
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert isinstance(check["seconds"], float)
    # No version, host or secret detail.
    assert set(body) == {"status", "checks"}


@pytest.mark.django_db(transaction=True)
def test_it_names_the_dependency_that_failed(client, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens once the socket closes
    settings.REDIS_URL = f"redis://127.0.0.1:{closed}/0"
    response = client.get("/readyz")
    body = orjson.loads(response.content)
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"]["status"] == "failed"
    assert body["checks"]["database"]["status"] == "ok"


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.slow
def test_a_live_server_answers_in_time_when_every_dependency_blackholes(tmp_path):
    """gunicorn started the production way, with HTTPS redirect on, called by an IP address not in
    ALLOWED_HOSTS, while PostgreSQL, Redis and S3 are addresses that accept and never answer."""
    with blackhole() as db_port, blackhole() as redis_port, blackhole() as s3_port, live_gunicorn(
        database_url=f"postgres://postgres@127.0.0.1:{db_port}/nothing", log_dir=tmp_path,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", S3_BUCKET="exports", S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}",
        S3_ACCESS_KEY_ID="x", S3_SECRET_ACCESS_KEY="y", SECURE_SSL_REDIRECT="true", ALLOWED_HOSTS="events.example.com",
    ) as (port, process):
        base = f"http://127.0.0.1:{port}"
        ip_host = {"Host": "10.20.30.40"}
        status, headers, body = _get(f"{base}/healthz", ip_host)
        assert (status, orjson.loads(body)) == (200, {"status": "ok"})
        started = time.monotonic()
        status, headers, body = _get(f"{base}/readyz", ip_host)
        elapsed = time.monotonic() - started
        body = orjson.loads(body)
        assert status == 503
        assert headers["Content-Type"] == "application/json"
        assert body["failed"] == ["broker", "database", "storage"]
        assert body["checks"]["database"]["status"] == "timeout"  # connect_timeout is 3 s: cut at 1.5 s
        # The probe's own deadline held (a blackholed dependency would otherwise hold it for seconds).
        assert elapsed < 5, elapsed
        # A second probe while the first checks still hang is answered in time too (no pile-up).
        status, _, body = _get(f"{base}/readyz", ip_host)
        assert status == 503 and orjson.loads(body)["checks"]["database"]["status"] == "timeout"
        # Other paths keep both protections.
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(urllib.request.Request(f"{base}/service/version", headers=ip_host), timeout=30)
        assert refused.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as redirected:
            opener.open(urllib.request.Request(f"{base}/service/version", headers={"Host": "events.example.com"}),
                        timeout=30)
        assert redirected.value.code == 301
        assert redirected.value.headers["Location"] == "https://events.example.com/service/version"
        assert process.poll() is None
