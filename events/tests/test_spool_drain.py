"""Ingest while the database is unreachable goes to the spool; the drain writes it back once, with
the rules of a live ingest (event_id replacement, purges win, suppressions). Real databases: the
outage is a connection to a port where nothing listens (PostgreSQL), nothing is mocked."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from events import spool
from events.models import DataSource, Event, SpooledBatch
from events.parsing import IngestLimits, ksense_rows
from events.services import events_ingest, events_spool_drain
from tests.live import live_database_url
from tests.outage import database_unreachable
from tests.services import requires_postgres

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
KSENSE = "/api/v2/events/post_event"


def ksense_post(client, token, events):
    return client.post(KSENSE, events, content_type="application/json", headers={"X-KSense-Tok": token})


def spool_batch(datasource, events, *, received_at=None):
    """Spool a batch exactly as events_ingest does when the database is away."""
    received_at = received_at or timezone.now()
    rows = ksense_rows(events, limits=IngestLimits.from_settings(), now=received_at)
    batch = uuid.uuid4()
    spool.spool_append(batch=batch, datasource_id=datasource.pk, received_at=received_at, rows=rows)
    return batch


def email_digest(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


@requires_postgres
def test_it_answers_ok_and_spools_while_postgres_is_unreachable_then_drains_once(client, ingest_token):
    assert ksense_post(client, ingest_token.raw, [{"event_id": "warm", "type": "pv"}]).status_code == 200
    with database_unreachable():
        response = ksense_post(client, ingest_token.raw, [{"event_id": f"o-{n}", "type": "pv"} for n in range(3)])
        bad = ksense_post(client, ingest_token.raw, [{"event_id": "x", "time_utc": "yesterday"}])
    assert response.status_code == 200 and response.json() == {"status": "OK"}
    assert bad.status_code == 400  # bad input is refused exactly as before, and not spooled
    assert spool.spool_status()["records"] == 1
    assert Event.objects.count() == 1  # nothing reached the database yet
    result = events_spool_drain()
    assert (result.batches, result.events_stored, result.error) == (1, 3, "")
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["o-0", "o-1", "o-2", "warm"]
    assert spool.segments() == [] and spool.spool_status()["records"] == 0
    assert events_spool_drain().batches == 0  # nothing twice


@requires_postgres
def test_barchart_answers_the_batch_it_stores_after_the_drain(client, ingest_token):
    body = {"events": [{"customer": "BARCHART", "product": "WATCHLIST", "type": "WATCHLIST-SYMBOL-ADDED",
                        "timestamp": 1795503600000 + n, "context": ["u-1", "AAPL"]} for n in range(4)]}
    headers = {"X-KSense-Tok": ingest_token.raw}
    assert client.post("/events", json.dumps(body), content_type="application/json", headers=headers).status_code == 200
    with database_unreachable():
        response = client.post("/events", json.dumps(body), content_type="application/json", headers=headers)
    assert response.status_code == 200
    answered = response.json()
    assert [item["sequence"] for item in answered] == [0, 1, 2, 3]
    batch = answered[0]["batch"]
    assert events_spool_drain().events_stored == 4
    stored = Event.objects.filter(batch=batch).order_by("sequence")
    assert [(str(e.batch), e.sequence, e.timestamp) for e in stored] == [
        (batch, n, stored[0].timestamp + timedelta(milliseconds=n)) for n in range(4)
    ]


@requires_postgres
@pytest.mark.parametrize("path", ["/api/v1/event", "/api/v1/s2s/event"])
def test_both_jitsu_endpoints_spool_while_postgres_is_unreachable(client, ingest_token, path):
    event = {"event_id": "j-1", "event_type": "pv", "user": {"anonymous_id": "a-1"}}
    url = f"{path}?token={ingest_token.raw}"
    assert client.post(url, json.dumps({**event, "event_id": "j-0"}), content_type="application/json").status_code \
        == 200
    with database_unreachable():
        response = client.post(url, json.dumps(event), content_type="text/plain")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert not Event.objects.filter(event_id="j-1").exists()
    events_spool_drain()
    assert Event.objects.get(event_id="j-1").user_anonymous_id == hashlib.sha256(b"a-1").hexdigest()


@requires_postgres
def test_a_full_spool_answers_503_with_retry_after_then_recovers(client, ingest_token, settings):
    assert ksense_post(client, ingest_token.raw, [{"type": "warm"}]).status_code == 200
    settings.SPOOL_MAX_BYTES = 2048
    events = [{"type": "pv", "event_data": {"pad": "x" * 300}}] * 2
    with database_unreachable():
        statuses = [ksense_post(client, ingest_token.raw, events) for _ in range(4)]
    codes = [response.status_code for response in statuses]
    assert codes[0] == 200 and codes[-1] == 503
    assert statuses[-1]["Retry-After"] == "5" and statuses[-1].json()["status"] == "ERROR"
    assert spool.spool_bytes() <= 2048
    accepted = codes.count(200)
    assert events_spool_drain().batches == accepted
    assert ksense_post(client, ingest_token.raw, events).status_code == 200  # the database is back: stored
    assert Event.objects.filter(type="pv").count() == 2 * accepted + 2


def test_the_drain_is_idempotent_when_its_progress_is_lost(ingest_token):
    datasource = ingest_token.token.datasource
    for n in range(3):
        spool_batch(datasource, [{"type": "pv", "event_data": {"n": n}}] * 2)
    assert events_spool_drain(max_batches=2).batches == 2
    for done in spool.spool_dir().glob("*.done"):  # killed after the commits, before saving the offsets
        done.unlink()
    result = events_spool_drain()
    assert (result.already_drained, result.batches, result.events_stored) == (2, 1, 2)
    assert Event.objects.count() == 6 and SpooledBatch.objects.count() == 3
    assert spool.segments() == []


def test_a_batch_the_ingest_committed_before_its_answer_failed_is_not_written_twice(ingest_token):
    datasource = ingest_token.token.datasource
    received_at = timezone.now()
    rows = ksense_rows([{"type": "pv"}] * 3, limits=IngestLimits.from_settings(), now=received_at)
    result = events_ingest(datasource=datasource, rows=rows, received_at=received_at)
    spool.spool_append(batch=result.batch, datasource_id=datasource.pk, received_at=received_at, rows=rows)
    assert events_spool_drain().events_stored == 0
    assert Event.objects.count() == 3


def test_a_purge_user_after_receipt_wins_over_the_spool(client, ingest_token, purge_token):
    datasource = ingest_token.token.datasource
    spool_batch(datasource, [{"type": "pv", "user_id": {"email": "Ann@Example.com"}},
                             {"type": "pv", "user_id": {"email": "bob@example.com"}}])
    response = client.post("/api/v2/insights/purge_user?ds=web&user_id=ann@example.com&user_id_type=email",
                           headers={"X-KSense-Tok": purge_token.raw})
    assert response.status_code == 200
    result = events_spool_drain()
    assert (result.events_stored, result.events_dropped) == (1, 1)
    assert list(Event.objects.values_list("user_email", flat=True)) == [email_digest("bob@example.com")]


def test_a_purge_before_receipt_does_not_touch_the_spooled_events(client, ingest_token, purge_token):
    response = client.post("/api/v2/insights/purge_user?ds=web&user_id=ann@example.com&user_id_type=email",
                           headers={"X-KSense-Tok": purge_token.raw})
    assert response.status_code == 200
    spool_batch(ingest_token.token.datasource, [{"type": "pv", "user_id": {"email": "ann@example.com"}}],
                received_at=timezone.now() + timedelta(seconds=1))
    assert events_spool_drain().events_stored == 1
    assert Event.objects.get().user_email == email_digest("ann@example.com")


def test_a_purge_dataset_after_receipt_drops_the_spooled_batch(client, ingest_token, purge_token):
    spool_batch(ingest_token.token.datasource, [{"type": "pv"}] * 4)
    assert client.post("/api/v2/insights/purge_dataset?ds=web", headers={"X-KSense-Tok": purge_token.raw}) \
        .status_code == 200
    result = events_spool_drain()
    assert (result.batches, result.events_stored, result.events_dropped) == (1, 0, 4)
    assert Event.objects.count() == 0
    assert SpooledBatch.objects.get().note == "purge_dataset after receipt"


def test_a_suppression_applies_to_spooled_events(client, ingest_token, purge_token):
    response = client.post(
        "/api/v2/insights/purge_user?ds=web&user_id=ann@example.com&user_id_type=email&suppress=1",
        headers={"X-KSense-Tok": purge_token.raw},
    )
    assert response.status_code == 200
    spool_batch(DataSource.objects.get(slug="web"), [
        {"type": "pv", "user_id": {"email": "ann@example.com"}}, {"type": "pv", "user_id": {"email": "b@x.io"}},
    ], received_at=timezone.now() + timedelta(seconds=1))
    assert events_spool_drain().events_stored == 1
    assert list(Event.objects.values_list("user_email", flat=True)) == [email_digest("b@x.io")]


def test_a_spooled_event_id_replaces_an_earlier_one_after_the_drain(client, ingest_token):
    assert ksense_post(client, ingest_token.raw, [{"event_id": "x", "type": "v1"}]).status_code == 200
    spool_batch(ingest_token.token.datasource, [{"event_id": "x", "type": "v2"}],
                received_at=timezone.now() + timedelta(seconds=1))
    events_spool_drain()
    assert list(Event.objects.values_list("event_id", "type")) == [("x", "v2")]


def test_a_newer_live_post_of_the_same_event_id_is_not_replaced_by_an_older_spooled_one(client, ingest_token):
    spool_batch(ingest_token.token.datasource, [{"event_id": "x", "type": "spooled-first"}],
                received_at=timezone.now() - timedelta(seconds=5))
    assert ksense_post(client, ingest_token.raw, [{"event_id": "x", "type": "posted-later"}]).status_code == 200
    result = events_spool_drain()
    assert (result.events_stored, result.events_dropped) == (0, 1)
    assert list(Event.objects.values_list("event_id", "type")) == [("x", "posted-later")]


def test_drain_spool_command_drains_and_reports(ingest_token):
    spool_batch(ingest_token.token.datasource, [{"type": "pv"}] * 2)
    out, err = StringIO(), StringIO()
    call_command("drain_spool", stdout=out, stderr=err)
    assert "Drained 1 batches: 2 events stored" in err.getvalue()
    assert out.getvalue().startswith("spool: 0 batches")
    assert Event.objects.count() == 2
    status = spool.spool_status()  # what the health panel and the metrics read
    assert (status["records"], status["bytes"], status["oldest_record_age_seconds"]) == (0, 0, None)
    assert status["last_drain"]["batches"] == 1 and status["last_drain"]["events_stored"] == 2
    assert status["last_drain_at"] is not None and status["warning"] is False


@requires_postgres
def test_a_drain_killed_midway_neither_loses_nor_doubles_a_batch(ingest_token):
    datasource = ingest_token.token.datasource
    batches = 300
    for n in range(batches):
        spool_batch(datasource, [{"type": "pv", "event_data": {"n": n, "i": i}} for i in range(5)])
    spool.spool_seal()  # this process's writer is done: the segment is dead, as after a restart
    env = {**os.environ, "DATABASE_URL": live_database_url(), "SPOOL_DIR": str(spool.spool_dir()),
           "EVENTSITE_TESTING": "1", "PYTHONPATH": str(ROOT)}
    drainer = subprocess.Popen([sys.executable, "manage.py", "drain_spool"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while SpooledBatch.objects.count() < 20 and drainer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    drainer.send_signal(signal.SIGKILL)
    drainer.wait()
    written_before_the_kill = SpooledBatch.objects.count()
    assert 0 < written_before_the_kill < batches  # it really died midway
    result = events_spool_drain()
    assert result.batches + result.already_drained <= batches
    assert SpooledBatch.objects.count() == batches
    assert Event.objects.count() == 5 * batches
    assert len(set(Event.objects.values_list("batch", "sequence"))) == 5 * batches
    assert spool.segments() == []


@requires_postgres
def test_a_read_only_database_after_a_failover_spools_too(client, ingest_token):
    from django.db import connection

    assert ksense_post(client, ingest_token.raw, [{"event_id": "warm", "type": "pv"}]).status_code == 200
    with connection.cursor() as cursor:  # this session now behaves like a standby: every write refused (25006)
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    response = ksense_post(client, ingest_token.raw, [{"event_id": "ro", "type": "pv"}])
    assert response.status_code == 200
    assert spool.spool_status()["records"] == 1
    connection.close()  # a fresh, writable session (ingest closed it already)
    assert events_spool_drain().events_stored == 1
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["ro", "warm"]
