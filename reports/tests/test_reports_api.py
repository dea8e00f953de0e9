"""Barchart report endpoints: POST /reports, availability, links; the file parses back exactly."""

import csv
import io
import json
import time
import uuid

import pytest

from reports.models import ReportJob
from reports.tests.conftest import basic, closed_port

pytestmark = pytest.mark.django_db(transaction=True)
T0 = 1795503600000  # 2026-11-24T07:00:00Z


def ingest(client, token, events):
    response = client.post("/events", json.dumps({"events": events}), content_type="application/json",
                           headers={"X-KSense-Tok": token})
    assert response.status_code == 200, response.content


def barchart_event(i, **overrides):
    event = {"customer": "TGAM", "product": "WATCHLIST", "type": "WATCHLIST-SYMBOL-ADDED", "timestamp": T0 + i,
             "context": [f"user-{i}", str(uuid.UUID(int=i)), "AAPL"], "version": "6.0.0"}
    event.update(overrides)
    return event


def start(client, headers, body):
    return client.post("/reports", json.dumps(body), content_type="application/json", headers=headers)


def assert_failure(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body, list) and body[0]["value"]["code"] == code
    return body


def test_a_report_runs_and_its_file_parses_back_exactly(client, ingest_token, tgam_user, eager_celery):
    tricky = ["pipe|inside", 'quote"inside', "new\nline", "ünïcode", "carriage\rreturn"]
    events = [barchart_event(i) for i in range(5)] + [barchart_event(5, context=tricky[:3]),
                                                       barchart_event(6, context=[tricky[3], tricky[4], "y"]),
                                                       barchart_event(7, customer="BARCHART"),
                                                       barchart_event(8, product="ALERT", type="ALERT-CREATED")]
    ingest(client, ingest_token.raw, events)
    response = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    status = response.json()
    assert list(status) == ["job", "source", "status", "filter", "timing", "output"]
    assert status["source"] == f"JOB-{status['job']}"
    assert status["status"] == "RUNNING"
    assert status["filter"] == {"customer": "TGAM", "product": "WATCHLIST"}
    assert list(status["timing"]) == ["day", "start"] and len(status["timing"]["day"]) == 10
    assert status["output"] == {"delimiter": "|"}

    availability = client.get(f"/reports/{status['source']}/availability", headers=tgam_user).json()
    assert availability["status"] == "COMPLETE"
    assert list(availability["timing"]) == ["day", "start", "end"]
    link = client.get(f"/reports/{status['source']}", headers=tgam_user).json()["link"]
    download = client.get(link.replace("http://testserver", ""))
    assert download.status_code == 200
    content = b"".join(download.streaming_content).decode()
    parsed = list(csv.reader(io.StringIO(content), delimiter="|"))
    assert parsed[0] == ["timestamp", "type", "context_1", "context_2", "context_3"]
    expected = [[str(e["timestamp"]), e["type"], *e["context"]] for e in events[:7]]
    assert parsed[1:] == expected
    job = ReportJob.objects.get()
    assert (job.rows, job.bytes) == (7, len(content.encode()))
    assert job.started_at and job.finished_at


def test_the_catalog_names_the_columns_and_filters_apply(client, ingest_token, tgam_user, eager_celery):
    from events.catalog import catalog_import
    from events.tests.test_barchart_api import SMALL_CATALOG

    catalog_import(datasource=ingest_token.token.datasource, document=SMALL_CATALOG)
    ingest(client, ingest_token.raw, [barchart_event(i) for i in range(10)])
    body = {"filter": {"customer": "TGAM", "product": "WATCHLIST", "types": ["WATCHLIST-SYMBOL-ADDED"],
                       "start": T0 + 2, "end": T0 + 5}, "output": {"delimiter": ";"}}
    status = start(client, tgam_user, body).json()
    assert list(status["filter"]) == ["customer", "product", "types", "start", "end"]
    assert status["output"] == {"delimiter": ";"}
    link = client.get(f"/reports/{status['source']}", headers=tgam_user).json()["link"]
    content = b"".join(client.get(link.replace("http://testserver", "")).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(content), delimiter=";"))
    assert rows[0] == ["timestamp", "type", "userId", "watchlistId", "symbol"]
    assert [int(r[0]) for r in rows[1:]] == [T0 + 2, T0 + 3, T0 + 4]


def test_with_a_catalog_an_unknown_customer_or_product_is_refused(client, ingest_token, tgam_user, eager_celery):
    from events.catalog import catalog_import
    from events.tests.test_barchart_api import SMALL_CATALOG

    catalog_import(datasource=ingest_token.token.datasource, document=SMALL_CATALOG)
    response = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "NOPE"}})
    body = assert_failure(response, 400, "REQUEST_INPUT_MALFORMED")
    assert [child["value"]["message"] for child in body[0]["children"]] == [
        'The "product" field cannot be interpreted. \'NOPE\' is not a known product.']
    assert ReportJob.objects.count() == 0
    assert start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}).status_code == 200
    assert ReportJob.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "filter"),
        ({"filter": {"product": "WATCHLIST"}}, "customer"),
        ({"filter": {"customer": "TGAM"}}, "product"),
        ({"filter": {"customer": "TGAM", "product": "W", "types": "x"}}, "types"),
        ({"filter": {"customer": "TGAM", "product": "W", "types": []}}, "types"),
        ({"filter": {"customer": "TGAM", "product": "W", "start": "yesterday"}}, "start"),
        ({"filter": {"customer": "TGAM", "product": "W", "start": 5, "end": 4}}, "end"),
        ({"filter": {"customer": "TGAM", "product": "W"}, "output": {"delimiter": '"'}}, "delimiter"),
        ({"filter": {"customer": "TGAM", "product": "W"}, "output": {"delimiter": "||"}}, "delimiter"),
    ],
)
def test_bad_report_requests_are_refused_and_create_nothing(client, tgam_user, body, field):
    response = start(client, tgam_user, body)
    failure = assert_failure(response, 400, "REQUEST_INPUT_MALFORMED")
    assert any(f'"{field}"' in child["value"]["message"] for child in failure[0]["children"])
    assert ReportJob.objects.count() == 0


def test_a_customer_user_may_only_report_on_its_customer(client, tgam_user, staff_basic, eager_celery):
    response = start(client, tgam_user, {"filter": {"customer": "BARCHART", "product": "WATCHLIST"}})
    assert response.status_code == 403
    assert ReportJob.objects.count() == 0
    assert start(client, staff_basic, {"filter": {"customer": "BARCHART", "product": "X"}}).status_code == 200
    source = ReportJob.objects.get().source
    # Another customer's job is not even visible to it.
    assert_failure(client.get(f"/reports/{source}/availability", headers=tgam_user), 404,
                   "EVENT_JOB_GET_FAILED_NO_JOB")
    assert client.get(f"/reports/{source}/availability", headers=staff_basic).status_code == 200


def test_reports_need_basic_credentials(client, tgam_user):
    response = start(client, {}, {"filter": {"customer": "TGAM", "product": "W"}})
    assert response.status_code == 401 and response.json() == {"message": "Unauthorized"}
    assert client.get("/reports/JOB-x/availability").status_code == 401
    assert ReportJob.objects.count() == 0


@pytest.mark.parametrize("username", ["tgam\x00", "\x00"])
def test_basic_credentials_with_nul_are_refused_as_401(client, tgam_user, username):
    # Found by fuzzing: NUL reached django-axes' lookup and PostgreSQL refused it (a 500).
    headers = basic(username, "long-enough-pass-1")
    for path in ("/service/authenticate", "/reports/JOB-x/availability"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401 and response.json() == {"message": "Unauthorized"}
    manage = client.get("/api/manage/reports/", headers=headers)
    assert manage.status_code in (401, 403) and manage["Content-Type"] == "application/json"
    assert ReportJob.objects.count() == 0


@pytest.mark.parametrize("source", ["JOB-" + str(uuid.uuid4()), "JOB-nope", "nope"])
def test_an_unknown_job_is_no_job(client, tgam_user, source):
    assert_failure(client.get(f"/reports/{source}/availability", headers=tgam_user), 404,
                   "EVENT_JOB_GET_FAILED_NO_JOB")
    assert_failure(client.get(f"/reports/{source}", headers=tgam_user), 404, "EVENT_JOB_GET_FAILED_NO_JOB")


def test_no_link_while_running_nor_for_a_failed_job(client, tgam_user):
    from django.contrib.auth.models import User

    job = ReportJob.objects.create(customer="TGAM", product="W", requested_by=User.objects.get(username="tgam"))
    assert_failure(client.get(f"/reports/{job.source}", headers=tgam_user), 409, "EVENT_JOB_GET_FAILED_RUNNING")
    ReportJob.objects.filter(pk=job.pk).update(status="FAILED", status_reason="S3 down")
    assert_failure(client.get(f"/reports/{job.source}", headers=tgam_user), 409, "EVENT_JOB_GET_FAILED")


def test_no_link_for_a_file_that_is_gone(client, ingest_token, tgam_user, eager_celery):
    from reports import storage

    ingest(client, ingest_token.raw, [barchart_event(1)])
    source = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}).json()["source"]
    storage.delete(key=ReportJob.objects.get().file_key)
    assert_failure(client.get(f"/reports/{source}", headers=tgam_user), 409, "EVENT_JOB_GET_FAILED")


def test_the_embedded_link_expires(client, ingest_token, tgam_user, eager_celery, settings):
    settings.REPORT_LINK_SECONDS = 1
    ingest(client, ingest_token.raw, [barchart_event(1)])
    source = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}).json()["source"]
    link = client.get(f"/reports/{source}", headers=tgam_user).json()["link"].replace("http://testserver", "")
    assert client.get(link).status_code == 200
    time.sleep(2.1)
    expired = client.get(link)
    assert_failure(expired, 409, "EVENT_JOB_GET_FAILED")
    assert "expired" in expired.json()[0]["value"]["message"]
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    assert client.get(tampered).status_code == 409


def test_a_row_cap_ends_the_job_in_timeout_with_the_reason(client, ingest_token, tgam_user, eager_celery, settings):
    settings.REPORT_MAX_ROWS = 3
    ingest(client, ingest_token.raw, [barchart_event(i) for i in range(5)])
    source = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}).json()["source"]
    job = ReportJob.objects.get()
    assert job.status == "TIMEOUT" and "REPORT_MAX_ROWS" in job.status_reason
    assert client.get(f"/reports/{source}/availability", headers=tgam_user).json()["status"] == "TIMEOUT"
    assert job.file_key == ""


def test_an_unreachable_broker_answers_503_fast_and_leaves_no_job_running(client, tgam_user):
    from eventsite.celery import app

    original = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    app.conf.broker_transport_options = {"socket_connect_timeout": 1, "max_retries": 0}
    app._pool = None
    app.amqp._producer_pool = None
    try:
        began = time.monotonic()
        response = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}})
        elapsed = time.monotonic() - began
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = original
        app._pool = None
        app.amqp._producer_pool = None
    assert response.status_code == 503
    assert response["Retry-After"]
    assert elapsed < 10
    job = ReportJob.objects.get()
    assert job.status == "FAILED" and "queue" in job.status_reason


def test_sweeps_fail_stuck_jobs_and_expire_old_files(client, ingest_token, tgam_user, eager_celery, settings):
    from datetime import timedelta

    from django.utils import timezone

    from reports import storage
    from reports.services import report_jobs_sweep

    ingest(client, ingest_token.raw, [barchart_event(1)])
    start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}})
    done = ReportJob.objects.get()
    stuck = ReportJob.objects.create(customer="TGAM", product="W")
    long_ago = timezone.now() - timedelta(days=settings.REPORT_RETENTION_DAYS + 1)
    ReportJob.objects.filter(pk=stuck.pk).update(created_at=long_ago)
    ReportJob.objects.filter(pk=done.pk).update(finished_at=long_ago)
    assert report_jobs_sweep() == {"stuck": 1, "expired": 1, "deleted": 1, "pending": 0}
    stuck.refresh_from_db()
    done.refresh_from_db()
    assert stuck.status == "FAILED" and done.file_deleted_at is not None
    assert not storage.exists(key=done.file_key)
    assert_failure(client.get(f"/reports/{done.source}", headers=tgam_user), 409, "EVENT_JOB_GET_FAILED")
