"""Ready for Citus by construction (issue 17, docs/scaling.md): with the events table distributed by
datasource_id, every statement that touches it must name one datasource_id by equality, so Citus
routes it to one shard (a router query). This test records every such statement, from Django's
cursors and from psycopg2's copy_expert, during ingest (kSense, Barchart, Jitsu), purges (user,
dataset, the background reclaim), exports and the console's datasource-scoped pages, and fails on
any statement without it, except the deliberate exceptions listed below with their reasons.
"""

import json
import re
from dataclasses import dataclass

import psycopg2.extensions
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import EpochReclaim
from eventsite.celery import app
from reports.models import ReportJob
from reports.purges import Actor, purge_dataset, purge_user
from reports.services import report_job_run
from tests.factories import make_datasource, make_token
from tests.logins import console_login
from tests.services import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVENTS = "events_event"
# A reference to the table: FROM / JOIN / INTO / UPDATE / COPY, quoted or not.
TABLE_REFERENCE = re.compile(rf'\b(?:FROM|JOIN|INTO|UPDATE|COPY)\s+"?{EVENTS}"?(?:\s|\(|$)', re.IGNORECASE)
# datasource_id = <one value> (or IN with exactly one value, as Django's cascade writes it).
EQUALITY = re.compile(r'"?datasource_id"?\s*(?:=\s*\d+|IN\s*\(\s*\d+\s*\))', re.IGNORECASE)

# The group commit's INSERT (events/groupcommit.py): one datasource, taken by id from its row.
GROUP_COMMIT_INSERT = re.compile(
    rf"INSERT INTO {EVENTS} \(datasource_id, .* FROM events_datasource ds, \(VALUES .*\) AS v\(.*\) "
    r"WHERE ds\.id = \d+ ORDER BY v\.n$", re.DOTALL)


@dataclass(frozen=True)
class Exception_:
    name: str
    reason: str
    matches: object  # (sql) -> bool


# Deliberate exceptions: multi-shard on Citus, and why that is right (see docs/scaling.md).
EXCEPTIONS = [
    Exception_(
        "report export",
        "A Barchart report selects a customer and product across datasources (the report API has no "
        "datasource). On Citus it runs on every shard in parallel (COPY (SELECT ...) TO STDOUT and the column-"
        "count aggregate are pushed down; the join to events_datasource is to a reference table). It is one "
        "scan per export, off the ingest path, and served by the read replica when there is one.",
        lambda sql: '"events_event"."customer" = ' in sql and '"events_event"."product" = ' in sql,
    ),
    Exception_(
        "group commit, one datasource",
        "Small id-less batches of concurrent requests of one web process share one INSERT ... SELECT ds.id, "
        "ds.epoch, v.* FROM events_datasource ds, (VALUES ...) v WHERE ds.id = <one id> (events/groupcommit.py). "
        "A group holds one datasource, named by an equality, so its rows go to one shard; but the equality is on "
        "the datasource (a reference table), and Citus plans an INSERT ... SELECT from a reference table through "
        "the coordinator. If that step shows in the plan's cost, send datasource_id and the epoch as constants, "
        "as the COPY path does.",
        lambda sql: bool(GROUP_COMMIT_INSERT.search(sql)),
    ),
]


class RecordingCursor(psycopg2.extensions.cursor):
    """psycopg2's cursor, recording COPY statements (Django's query capture does not see them)."""

    copies: list[tuple[str, str]] = []

    def copy_expert(self, sql, file, size=8192):
        data = file.getvalue() if hasattr(file, "getvalue") and "FROM STDIN" in sql.upper() else ""
        RecordingCursor.copies.append((sql, data))
        return super().copy_expert(sql, file, size)


@pytest.fixture
def recorded():
    """Every statement on the default connection that touches the events table, as executed."""
    RecordingCursor.copies = []
    connection.ensure_connection()
    connection.connection.cursor_factory = RecordingCursor
    with CaptureQueriesContext(connection) as captured:
        yield captured
    connection.connection.cursor_factory = psycopg2.extensions.cursor


def check(sql: str, copy_data: str = "") -> str | None:
    """None if the statement is a router query on Citus (or a listed exception); else the problem."""
    references = len(TABLE_REFERENCE.findall(sql))
    if not references:
        return None
    if sql.upper().startswith("COPY") and "FROM STDIN" in sql.upper():
        # COPY ... (datasource_id, ...) FROM STDIN: Citus routes each row by its first column; one
        # batch is one datasource, so one shard.
        columns = sql[sql.index("(") + 1:sql.index(")")].split(",")
        ids = {line.split("\t")[0] for line in copy_data.splitlines()}
        return None if columns[0].strip() == "datasource_id" and len(ids) == 1 else f"COPY of datasources {ids}"
    if len(EQUALITY.findall(sql)) >= references:
        return None
    for exception in EXCEPTIONS:
        if exception.matches(sql):
            return None
    return "no datasource_id equality for each reference to the events table"


def statements(captured) -> list[tuple[str, str]]:
    executed = [(query["sql"], "") for query in captured.captured_queries]
    return [(sql, data) for sql, data in executed + RecordingCursor.copies if EVENTS in sql]


def test_check_refuses_a_statement_without_the_distribution_column():
    assert check('SELECT * FROM "events_event" WHERE "events_event"."type" = \'pv\'') is not None
    assert check('DELETE FROM events_event WHERE id IN (SELECT id FROM events_event WHERE datasource_id = 1)')
    assert check('SELECT 1 FROM "events_event" WHERE "events_event"."datasource_id" = 7') is None
    assert check("COPY events_event (datasource_id, epoch) FROM STDIN", "1\t0\n2\t0\n") is not None


def test_every_statement_on_the_events_table_names_one_datasource(client, recorded):
    datasource = make_datasource(slug="web")
    make_datasource(slug="other")  # with one datasource the admin drops its datasource filter as moot
    ingest = make_token(datasource=datasource, scope="ingest").raw
    console_login(client, User.objects.create_superuser("ops", password="long-enough-pass-1"))
    ksense = {"type": "pv", "user_id": {"email": "ann@example.com"}}

    def post(path, body, **headers):
        response = client.post(path, json.dumps(body), content_type="application/json", headers=headers)
        assert response.status_code == 200, response.content

    # Ingest, all three families, both write paths (one INSERT; DELETE of repeated ids + COPY).
    post("/api/v2/events/post_event", ksense, **{"X-KSense-Tok": ingest})
    post("/api/v2/events/post_event", [{**ksense, "event_id": f"k{n}"} for n in range(30)], **{"X-KSense-Tok": ingest})
    post("/api/v2/events/post_event", [{**ksense, "event_id": "k1"}], **{"X-KSense-Tok": ingest})  # replaces
    post("/events", {"events": [{"customer": "TGAM", "product": "WATCHLIST", "type": "W", "timestamp": 1795503600000,
                                 "context": ["user-1"], "version": "6.0.0"}]}, **{"X-KSense-Tok": ingest})
    post(f"/api/v1/s2s/event?token={ingest}", {"event_id": "j1", "event_type": "pv", "user": {"id": 42}})
    post(f"/api/v1/event?token={ingest}", [{"event_id": "", "event_type": "pv", "user": {"anonymous_id": "a"}}] * 25)
    # The console's datasource-scoped pages and API lists, and the purge pages' dry runs.
    for path in (f"/admin/events/event/?datasource__id__exact={datasource.pk}",
                 f"/admin/events/datasource/{datasource.pk}/change/",
                 "/api/manage/events/?datasource=web&type=pv"):
        assert client.get(path).status_code == 200, path
    assert client.post(f"/admin/events/datasource/{datasource.pk}/purge-user/",
                       {"user_id_type": "email", "user_id": "ann@example.com"}).status_code == 200
    assert client.post(f"/admin/events/datasource/{datasource.pk}/purge-dataset/").status_code == 200
    # An export, purges, and the background reclaim.
    job = ReportJob.objects.create(customer="TGAM", product="WATCHLIST", delimiter="|")
    assert report_job_run(job_id=str(job.id)) == ReportJob.Status.COMPLETE
    purged = purge_user(datasource=datasource, kind="email", user_id="ann@example.com", actor=Actor(label="t"))
    assert purged.events_deleted > 0
    app.conf.task_always_eager = True  # the reclaim runs here, after the purge's commit
    try:
        purge_dataset(datasource=datasource, actor=Actor(label="t"))
    finally:
        app.conf.task_always_eager = False
    assert EpochReclaim.objects.get().events_deleted > 0

    seen = statements(recorded)
    assert len(seen) > 15  # the recording works: every step above touched the table
    for kind in ("SELECT", f"INSERT INTO {EVENTS}", f"DELETE FROM {EVENTS}", f"COPY {EVENTS}"):
        assert any(kind in sql for sql, _ in seen), kind
    problems = [(problem, sql[:300]) for sql, data in seen if (problem := check(sql, data))]
    assert problems == [], "\n".join(f"{p}: {s}" for p, s in problems)
