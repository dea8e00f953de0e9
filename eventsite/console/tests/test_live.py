"""The console's collectors in real processes: a gunicorn started the production way writes its
refused-request counts from its background thread; a real Celery worker reports itself alive with
its queues, records its task runs and answers the health panel's ping."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.db.models import Sum

from bench.soak import live_gunicorn
from eventsite.console.health import health_checks
from eventsite.console.models import RejectionHour, TaskRun, WorkerSeen
from reports.tests.test_worker_e2e import stop, wait_for
from tests.factories import make_datasource, make_token
from tests.live import live_database_url
from tests.logins import second_step_over_http
from tests.services import REDIS_URL, requires_postgres, requires_redis

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


def rejected_total() -> int:
    connection.close()  # read what the server committed, on a fresh connection
    return sum(RejectionHour.objects.values_list("count", flat=True))


def test_a_live_server_writes_its_refusals_from_its_background_thread(transactional_db, tmp_path):
    purge = make_token(datasource=make_datasource(slug="web"), scope="purge")
    url_path = "/api/v2/events/post_event"
    with live_gunicorn(database_url=live_database_url(), log_dir=tmp_path, CONSOLE_FLUSH_SECONDS="1",
                       TOKEN_CACHE_SECONDS="60") as (port, _process), requests.Session() as http:
        url = f"http://127.0.0.1:{port}{url_path}"
        statuses = [http.post(url, json=[{"type": "pv"}], headers={"X-KSense-Tok": "evs_unknown"}).status_code
                    for _ in range(3)]
        statuses += [http.post(url, json=[{"type": "pv"}], headers={"X-KSense-Tok": purge.raw}).status_code
                     for _ in range(2)]
        assert statuses == [401, 401, 401, 403, 403]
        wait_for(lambda: rejected_total() == 5, timeout=20, step=0.5)

    rows = RejectionHour.objects.values_list("datasource_slug", "status").annotate(n=Sum("count")).order_by()
    assert {(slug, status): n for slug, status, n in rows} == {("", 401): 3, ("web", 403): 2}


@requires_redis
def test_a_real_worker_is_the_heartbeat_and_answers_the_ping(transactional_db, settings):
    import redis

    redis.Redis.from_url(REDIS_URL).delete("celery")
    env = {**os.environ, "DATABASE_URL": live_database_url(), "REDIS_URL": REDIS_URL, "EVENTSITE_TESTING": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "eventsite", "worker", "--pool=solo", "--without-mingle",
         "--without-gossip", "-n", "console-test@%h", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        from eventsite.console.tasks import rollup_events

        rollup_events.delay()
        wait_for(lambda: connection.close() or TaskRun.objects.filter(
            name="eventsite.console.tasks.rollup_events", last_state="SUCCESS").exists(), timeout=60, step=0.5)
        run = TaskRun.objects.get(name="eventsite.console.tasks.rollup_events")
        assert run.hostname.startswith("console-test@") and run.runs == 1

        seen = wait_for(lambda: connection.close() or WorkerSeen.objects.filter(
            hostname__startswith="console-test@").first(), timeout=30, step=0.5)
        assert seen.queues == ["celery"] and seen.stopped_at is None  # a worker of the default queue only
        checks = {check.name: check for check in health_checks()}
        assert checks["Workers: default queue"].state == "ok" and "console-test@" in checks[
            "Workers: default queue"].summary
        assert checks["Workers: exports queue"].state == "failed"
        assert checks["Last task finished"].state == "ok"
        assert checks["Workers (ping)"].state in ("ok", "warning")  # a solo worker busy starting may miss 0.4 s
        if checks["Workers (ping)"].state == "ok":
            assert "console-test@" in checks["Workers (ping)"].summary
        assert checks["Task queue"].state == "ok"
    finally:
        stop(worker)
    connection.close()
    assert WorkerSeen.objects.get(hostname__startswith="console-test@").stopped_at is not None


def test_the_health_panel_answers_with_the_broker_down(transactional_db, tmp_path):
    from django.contrib.auth.models import User

    from bench.soak import free_port

    User.objects.create_superuser("ops", "ops@example.com", "ops-pass-123")
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    with live_gunicorn(database_url=live_database_url(), log_dir=tmp_path, REDIS_URL=nothing_listens) as (port, _p), \
            requests.Session() as http:
        base = f"http://127.0.0.1:{port}"
        http.get(f"{base}/admin/login/", timeout=30)
        login = http.post(f"{base}/admin/login/?next=/admin/", timeout=30, allow_redirects=False, data={
            "username": "ops", "password": "ops-pass-123", "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"Referer": f"{base}/admin/login/"})
        assert login.status_code == 302
        assert second_step_over_http(http, base, login).status_code == 302  # a superuser enrols on first sign-in
        page = http.get(f"{base}/admin/health/", timeout=30)  # bounded checks: it must not hang

    assert page.status_code == 200
    html = page.text
    assert 'data-check="Workers (ping)" data-state="unknown"' in html
    assert 'data-check="Task queue" data-state="unknown"' in html
    assert "Check Redis (REDIS_URL)" in html
