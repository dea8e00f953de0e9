"""Request ids: echoed, in every log line of the request (text and JSON), in the Celery tasks the
request starts, and in report and purge audit rows."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from eventsite.lib.logscrub import ScrubTokens
from eventsite.ops.logformat import JsonFormatter, RequestContext
from tests.services import REDIS_URL, requires_postgres, requires_redis

POST = "/api/v2/events/post_event"
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_a_sane_client_id_is_echoed_and_anything_else_is_replaced(client, ingest_token):
    headers = {"X-KSense-Tok": ingest_token.raw}
    sane = client.post(POST, [{"type": "pv"}], content_type="application/json",
                       headers={**headers, "X-Request-ID": "lb-7f3a:42"})
    assert sane.status_code == 200 and sane["X-Request-ID"] == "lb-7f3a:42"
    for insane in ("has spaces", "x" * 129, "new\nline", "quote\"", "é"):
        response = client.get("/healthz", headers={"X-Request-ID": insane})
        assert response["X-Request-ID"] != insane and len(response["X-Request-ID"]) == 32
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert first != second


@pytest.fixture
def captured():
    """The LOGGING console handler's output (the handler with the request-context filter)."""
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RequestContext) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield handler, stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_every_log_line_of_a_request_carries_its_id(client, captured):
    _, stream = captured
    client.post(f"{POST}?token=evs_secret-value-123", [{"type": "pv"}], content_type="application/json",
                headers={"X-Request-ID": "req-text-1"})
    logging.getLogger("eventsite.test").warning("outside any request")
    lines = stream.getvalue().splitlines()
    unauthorized = [line for line in lines if "Unauthorized: /api/v2/events/post_event" in line]
    assert unauthorized and all("[req-text-1]" in line for line in unauthorized)
    assert any("[-] outside any request" in line for line in lines)
    assert "secret-value-123" not in stream.getvalue()


@pytest.mark.django_db
def test_json_lines_hold_the_request_fields_and_no_token(client, captured):
    handler, stream = captured
    previous = handler.formatter
    handler.setFormatter(JsonFormatter())
    try:
        client.post(f"{POST}?token=evs_secret-value-123&x=1", [{"type": "pv"}], content_type="application/json",
                    headers={"X-Request-ID": "req-json-1"})
        logging.getLogger("eventsite.test").warning("a message quoting ?token=evs_secret-value-123")
    finally:
        handler.setFormatter(previous)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is one JSON object
    request_lines = [e for e in entries if e["request_id"] == "req-json-1"]
    assert request_lines
    entry = request_lines[0]
    assert set(entry) >= {"time", "level", "logger", "message", "request_id", "method", "path", "status", "duration"}
    assert (entry["level"], entry["logger"], entry["method"], entry["path"]) == (
        "WARNING", "django.request", "POST", POST)
    assert entry["status"] == 401
    outside = [e for e in entries if e["logger"] == "eventsite.test"][0]
    assert outside["request_id"] is None and outside["path"] is None
    assert "[redacted]" in outside["message"]
    assert "secret-value-123" not in stream.getvalue()
    assert any(isinstance(f, ScrubTokens) for f in handler.filters)


@pytest.mark.django_db(transaction=True)
def test_audit_rows_keep_the_request_id(client, ingest_token, purge_token, tgam_user, eager_celery):
    from events.models import PurgeAudit
    from reports.models import ReportJob

    response = client.post("/api/v2/insights/purge_user?ds=web&user_id=ann@example.com&user_id_type=email",
                           headers={"X-KSense-Tok": purge_token.raw, "X-Request-ID": "purge-req-1"})
    assert response.status_code == 200
    assert PurgeAudit.objects.get().request_id == "purge-req-1"
    response = client.post("/reports", json.dumps({"filter": {"customer": "TGAM", "product": "WATCHLIST"}}),
                           content_type="application/json", headers={**tgam_user, "X-Request-ID": "report-req-1"})
    assert response.status_code == 200
    assert ReportJob.objects.get().request_id == "report-req-1"


@requires_postgres
@requires_redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_with_the_request_id_and_its_metrics_add_up(client, tgam_user, tmp_path, settings):
    """A report requested over HTTP runs in a Celery worker process (prefork child): its log lines
    carry the request's id (JSON format) and its figures land in the shared metrics directory."""
    import redis

    from reports.models import ReportJob

    redis.Redis.from_url(REDIS_URL).delete("celery", "exports")
    s = connection.settings_dict
    metrics_dir = tmp_path / "prometheus"
    env = {**os.environ, "EVENTSITE_TESTING": "1", "REDIS_URL": REDIS_URL, "LOG_FORMAT": "json",
           "DATABASE_URL": f"postgres://{s['USER'] or 'postgres'}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}",
           "METRICS_TOKEN": "metrics-token-0123456789", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "EVENTSITE_VAR_DIR": str(tmp_path / "var"), "LOG_LEVEL": "INFO"}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "eventsite", "worker", "--queues", "celery,exports",
         "--pool=prefork", "--concurrency=1",
         "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        response = client.post("/reports", json.dumps({"filter": {"customer": "TGAM", "product": "WATCHLIST"}}),
                               content_type="application/json", headers={**tgam_user, "X-Request-ID": "e2e-req-1"})
        assert response.status_code == 200
        job = ReportJob.objects.get()
        import time

        deadline = time.monotonic() + 60
        while ReportJob.objects.get(pk=job.pk).status == "RUNNING":
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
    assert ReportJob.objects.get(pk=job.pk).status == "COMPLETE"
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines() if line.startswith("{")]
    ended = [e for e in lines if f"report job {job.pk} ended COMPLETE" in e["message"]]
    assert ended and ended[0]["request_id"] == "e2e-req-1"
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    from prometheus_client import generate_latest

    samples = {(s.name, frozenset(s.labels.items())): s.value
               for f in text_string_to_metric_families(generate_latest(registry).decode()) for s in f.samples}
    assert samples[("eventsite_report_jobs_total", frozenset({"status": "COMPLETE"}.items()))] == 1
    assert samples[("eventsite_celery_tasks_total", frozenset(
        {"task": "reports.tasks.export_report", "outcome": "success"}.items()))] == 1


@pytest.mark.slow
def test_gunicorns_access_log_is_json_with_the_request_id_and_no_token(tmp_path):
    import urllib.error
    import urllib.request

    from bench.soak import live_gunicorn

    with live_gunicorn(database_url="postgres://postgres@127.0.0.1:9/unused", log_dir=tmp_path,
                       LOG_FORMAT="json") as (port, _process):
        for path, rid in (("/healthz", "access-1"), ("/api/v2/events/post_event?token=evs_secret-777&x=1", "access-2")):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"[]" if "post" in path else None,
                                             headers={"X-Request-ID": rid, "Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request, timeout=30).close()
            except urllib.error.HTTPError as error:
                assert error.headers["X-Request-ID"] == rid
    text = (tmp_path / "access.log").read_text()  # written on shutdown at the latest
    entries = {entry["request_id"]: entry for entry in map(json.loads, text.splitlines())}
    assert entries["access-1"]["path"] == "/healthz" and entries["access-1"]["status"] == 200
    post = entries["access-2"]
    assert (post["method"], post["path"]) == ("POST", "/api/v2/events/post_event")
    assert "token=[redacted]" in post["message"] and "x=1" in post["message"]
    assert isinstance(post["duration"], float) and post["logger"] == "gunicorn.access"
    assert "secret-777" not in text and "secret-777" not in (tmp_path / "error.log").read_text()
