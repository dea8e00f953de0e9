"""Exports and console lists on a real streaming replica, never showing purged events (issue 17).

The replica is built from the test run's PostgreSQL (tests/replica.py: pg_basebackup -R, a second
server on a free loopback port). Opt-in with EVENTSITE_REPLICA_TESTS=1 (CI's PostgreSQL pass sets
it): a base backup copies the whole cluster. What is on the replica is told apart from the primary
by pausing replay (`pg_wal_replay_pause()`) and then writing on the primary: a row the export
misses was read from the replica.
"""

import csv
import threading
import time

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test.utils import CaptureQueriesContext

from events.catalog import catalog_cache_clear, catalog_import
from events.identities import identity_digest
from events.tests.test_barchart_api import SMALL_CATALOG
from eventsite.lib.replica import REPLICA, replica_forget_failures, replica_reads, replica_status
from reports import storage
from reports.models import ReportJob
from reports.purges import Actor, purge_dataset, purge_user
from reports.services import report_job_run
from reports.tests.test_reports_api import barchart_event, ingest
from tests.logins import console_login
from tests.replica import StreamingReplica, replica_alias, requires_streaming_replica
from tests.services import requires_postgres

pytestmark = [requires_postgres, requires_streaming_replica, pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.django_db(transaction=True, databases=["default", REPLICA])]


@pytest.fixture
def barchart_catalog(ingest_token):
    """The catalog makes context[0] (user-N) each event's internal_id, so purge_user finds it."""
    catalog_import(datasource=ingest_token.token.datasource, document={
        **SMALL_CATALOG, "products": [*SMALL_CATALOG["products"], {"code": "ALERT"}],
        "eventTypes": [*SMALL_CATALOG["eventTypes"], {"code": "ALERT-CREATED", "product": "ALERT",
                                                      "contextKeys": ["userId"], "contextRules": {}}]})
    catalog_cache_clear()


@pytest.fixture(scope="module")
def streaming_replica(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        replica = StreamingReplica.create()
        try:
            with replica_alias(replica):
                yield replica
        finally:
            replica.destroy()


@pytest.fixture(autouse=True)
def replica(streaming_replica, settings, barchart_catalog):
    settings.REPLICA_WAIT_SECONDS = 1
    settings.REPLICA_FALLBACK = "primary"
    replica_forget_failures()
    yield streaming_replica
    streaming_replica.resume()


def export() -> tuple[ReportJob, list[str]]:
    """Run a TGAM/WATCHLIST export in this process; the first context value (user-N) of each row."""
    job = ReportJob.objects.create(customer="TGAM", product="WATCHLIST", delimiter="|")
    report_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == ReportJob.Status.COMPLETE, job.status_reason
    with storage.local_path(key=job.file_key).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="|"))
    return job, sorted(row[2] for row in rows[1:])


def events_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "events_event" in q["sql"]]


def test_an_export_is_served_from_the_replica(client, ingest_token, replica):
    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
    replica.wait_caught_up()
    replica.pause()
    ingest(client, ingest_token.raw, [barchart_event(3)])  # committed on the primary, not replayed

    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        job, users = export()
    assert users == ["user-1", "user-2"]  # event 3 missing: the file came from the replica
    assert job.rows == 2
    assert events_queries(on_replica)  # the event query ran on the replica connection

    replica.resume()
    replica.wait_caught_up()
    assert export()[1] == ["user-1", "user-2", "user-3"]


@pytest.mark.parametrize("fallback", ["primary", "wait"])
@pytest.mark.parametrize("purge", ["user", "dataset"])
def test_a_purge_followed_at_once_by_an_export_never_shows_the_purged_events(
        client, ingest_token, replica, settings, purge, fallback):
    settings.REPLICA_FALLBACK = fallback
    settings.REPLICA_MAX_WAIT_SECONDS = 60
    datasource = ingest_token.token.datasource
    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
    replica.wait_caught_up()
    replica.pause()
    if purge == "user":
        purge_user(datasource=datasource, kind="internal_id", user_id="user-1", actor=Actor(label="test"))
        expected = ["user-2"]
    else:
        purge_dataset(datasource=datasource, actor=Actor(label="test"))
        expected = []
    # The replica still has the purged events.
    digest = identity_digest("internal_id", "user-1", where="test")
    assert replica.query(f"SELECT count(*) FROM events_event e JOIN events_datasource d ON d.id = e.datasource_id "
                         f"WHERE e.epoch = d.epoch AND e.user_internal_id = '{digest}'")[0] == 1

    # With REPLICA_FALLBACK=wait the export waits for the replica, which resumes replaying a moment later.
    resume = threading.Timer(1.5, replica.resume)
    if fallback == "wait":
        resume.start()
    try:
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            job, users = export()
    finally:
        resume.cancel()
        if resume.is_alive():
            resume.join()
    assert users == expected
    assert bool(events_queries(on_replica)) == (fallback == "wait")  # waited, or read the primary
    assert replica_status().fence_passed == (fallback == "wait")


def test_a_running_export_rerun_after_a_purge_takes_the_fence_again(client, ingest_token, replica):
    datasource = ingest_token.token.datasource
    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
    replica.wait_caught_up()
    replica.pause()
    purged = []

    def purge_during_the_first_pass(execute, sql, params, many, context):
        # The first pass has chosen the replica and is reading: the purge commits now and tells
        # the running job to rerun; the replica does not replay it.
        if not purged and "events_event" in sql:
            purged.append(purge_user(datasource=datasource, kind="internal_id", user_id="user-1",
                                     actor=Actor(label="test")))
        return execute(sql, params, many, context)

    with connections[REPLICA].execute_wrapper(purge_during_the_first_pass):
        job, users = export()
    assert purged[0].events_deleted == 1
    assert users == ["user-2"]  # the rerun waited for the fence and then read the primary
    assert job.rerun_required is False


def test_an_export_completes_from_the_primary_when_the_replica_stops_mid_run(client, ingest_token, replica):
    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
    replica.wait_caught_up()
    stopped = []

    def stop_the_replica(execute, sql, params, many, context):
        if not stopped and "events_event" in sql:
            replica.stop()  # the export already chose the replica and is about to read it
            stopped.append(sql)
        return execute(sql, params, many, context)

    try:
        with connections[REPLICA].execute_wrapper(stop_the_replica):
            job, users = export()
        assert stopped
        assert users == ["user-1", "user-2"]
        assert job.rows == 2
        status = replica_status()
        assert (status.configured, status.reachable) == (True, False)
        with replica_reads() as alias:  # and it is left alone for REPLICA_RETRY_SECONDS
            assert alias == "default"
    finally:
        replica.start()
    replica_forget_failures()
    with replica_reads() as alias:
        assert alias == REPLICA


def test_a_paused_replica_reports_its_lag(client, ingest_token, replica):
    replica.wait_caught_up()
    caught_up = replica_status()
    assert (caught_up.reachable, caught_up.in_recovery, caught_up.replay_paused) == (True, True, False)
    replica.pause()
    ingest(client, ingest_token.raw, [barchart_event(i) for i in range(200)])
    time.sleep(0.01)  # so the last replayed commit is measurably older than now
    lagging = replica_status()
    assert lagging.replay_paused is True
    assert lagging.lag_bytes > 0
    assert lagging.lag_seconds > 0
    assert lagging.fence_passed is True  # lag, but no purge waiting
    purge_user(datasource=ingest_token.token.datasource, kind="internal_id", user_id="user-1",
               actor=Actor(label="test"))
    assert replica_status().fence_passed is False
    replica.resume()
    replica.wait_caught_up()
    assert replica_status().fence_passed is True


def test_the_console_event_lists_read_the_replica_but_never_show_purged_events(client, ingest_token, replica):
    console_login(client, User.objects.create_user("ops", password="long-enough-pass-1", is_staff=True,
                                                   is_superuser=True))
    datasource = ingest_token.token.datasource
    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
    replica.wait_caught_up()
    replica.pause()
    ingest(client, ingest_token.raw, [barchart_event(3, product="ALERT", type="ALERT-CREATED",
                                                    context=["user-3"])])  # primary only

    def listed() -> tuple[list[str], bytes]:
        api = client.get("/api/manage/events/")
        page = client.get("/admin/events/event/")
        assert (api.status_code, page.status_code) == (200, 200)
        return sorted(event["payload"]["context"][0] for event in api.json()["results"]), page.content

    users, page = listed()
    assert users == ["user-1", "user-2"]  # from the replica
    assert b"ALERT-CREATED" not in page

    purge_user(datasource=datasource, kind="internal_id", user_id="user-1", actor=Actor(label="test"))
    users, page = listed()
    assert users == ["user-2", "user-3"]  # behind the fence: the primary, without waiting
    assert b"ALERT-CREATED" in page
