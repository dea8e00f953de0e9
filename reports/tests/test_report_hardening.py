"""Issue 11, defects 6-8: bounded report requests, spreadsheet formula injection, delimiters that
broke PostgreSQL's COPY, and export errors that left jobs RUNNING. Run on SQLite and PostgreSQL:
the export paths differ (csv module / COPY), the files must not."""

import csv
import io
import uuid

import pytest
from django.contrib.auth.models import User

from reports.models import ReportJob
from reports.services import report_job_run
from reports.tests.test_reports_api import assert_failure, barchart_event, ingest, start
from tests.logins import console_login
from tests.services import requires_postgres

pytestmark = pytest.mark.django_db(transaction=True)
WATCHLIST = {"customer": "TGAM", "product": "WATCHLIST"}


def file_text(client, headers, source) -> str:
    link = client.get(f"/reports/{source}", headers=headers).json()["link"].replace("http://testserver", "")
    return b"".join(client.get(link).streaming_content).decode()


# --- 6: bounded requests ------------------------------------------------------------------------

def test_it_refuses_more_types_than_report_max_types(client, tgam_user, eager_celery, settings):
    assert settings.REPORT_MAX_TYPES == 1000
    too_many = [f"T{n}" for n in range(1001)]
    failure = assert_failure(start(client, tgam_user, {"filter": {**WATCHLIST, "types": too_many}}), 400,
                             "REQUEST_INPUT_MALFORMED")
    assert "REPORT_MAX_TYPES" in failure[0]["children"][0]["value"]["message"]
    assert ReportJob.objects.count() == 0
    settings.REPORT_MAX_TYPES = 3
    assert start(client, tgam_user, {"filter": {**WATCHLIST, "types": ["A", "B", "C", "D"]}}).status_code == 400
    assert start(client, tgam_user, {"filter": {**WATCHLIST, "types": ["A", "B", "C"]}}).status_code == 200
    assert ReportJob.objects.count() == 1


def test_a_user_with_too_many_running_reports_gets_429_in_barchart_format(client, tgam_user, staff_basic, settings):
    settings.REPORT_MAX_RUNNING_PER_USER = 2
    tgam = User.objects.get(username="tgam")
    for _ in range(2):
        ReportJob.objects.create(customer="TGAM", product="WATCHLIST", requested_by=tgam)  # still running
    response = start(client, tgam_user, {"filter": WATCHLIST})
    failure = assert_failure(response, 429, "TOO_MANY_REQUESTS")
    assert int(response["Retry-After"]) > 0 and "REPORT_MAX_RUNNING_PER_USER" in failure[0]["value"]["message"]
    assert ReportJob.objects.count() == 2
    # Another user is not held back, nor is this one once a job has finished.
    from eventsite.celery import app

    app.conf.task_always_eager = True
    try:
        assert start(client, staff_basic, {"filter": WATCHLIST}).status_code == 200
        ReportJob.objects.filter(requested_by=tgam).update(status="COMPLETE")
        assert start(client, tgam_user, {"filter": WATCHLIST}).status_code == 200
    finally:
        app.conf.task_always_eager = False
    assert ReportJob.objects.count() == 4


def test_the_management_api_caps_running_reports_too(client, staff_basic, settings):
    settings.REPORT_MAX_RUNNING_PER_USER = 1
    ReportJob.objects.create(customer="TGAM", product="W", requested_by=User.objects.get(username="ops"))
    response = client.post("/api/manage/reports/", {"filter": WATCHLIST}, content_type="application/json",
                           headers=staff_basic)
    assert response.status_code == 429 and response["Retry-After"]
    assert ReportJob.objects.count() == 1


def test_management_lists_leave_types_out_and_the_detail_has_them(client, staff_basic):
    job = ReportJob.objects.create(customer="TGAM", product="W", types=[f"T{n}" for n in range(1000)],
                                   status="COMPLETE", requested_by=User.objects.get(username="ops"))
    listed = client.get("/api/manage/reports/", headers=staff_basic)
    assert listed.status_code == 200
    row = listed.json()["results"][0]
    assert row["id"] == str(job.pk) and "types" not in row and row["raw_values"] is False
    detail = client.get(f"/api/manage/reports/{job.pk}/", headers=staff_basic)
    assert detail.status_code == 200 and len(detail.json()["types"]) == 1000


# --- 7: spreadsheet formula injection ----------------------------------------------------------

DANGEROUS = ["=1+2", "+SUM(A1)", "-3", "@cmd", "\tTAB", "\rCR", 'x"y', "safe"]


def formula_events():
    return [barchart_event(0, type="=HYPERLINK(\"http://x\")", context=DANGEROUS[:4]),
            barchart_event(1, context=DANGEROUS[4:])]


def test_formula_cells_are_neutralised_and_quoted_in_report_files(client, ingest_token, tgam_user, eager_celery):
    ingest(client, ingest_token.raw, formula_events())
    status = start(client, tgam_user, {"filter": WATCHLIST}).json()
    assert status["output"] == {"delimiter": "|"}
    text = file_text(client, tgam_user, status["source"])
    lines = text.split("\n")
    # The same bytes from both export paths (csv module on SQLite, COPY on PostgreSQL): every
    # text cell quoted, the ones a spreadsheet would run prefixed with a single quote.
    assert lines[1] == f'{barchart_event(0)["timestamp"]}|"\'=HYPERLINK(""http://x"")"|"\'=1+2"|"\'+SUM(A1)"|"\'-3"|"\'@cmd"'
    assert lines[2] == f'{barchart_event(1)["timestamp"]}|"WATCHLIST-SYMBOL-ADDED"|"\'\tTAB"|"\'\rCR"|"x""y"|"safe"'
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="|"))
    assert rows[1][1:] == ["'=HYPERLINK(\"http://x\")", "'=1+2", "'+SUM(A1)", "'-3", "'@cmd"]
    assert rows[2][2:] == ["'\tTAB", "'\rCR", 'x"y', "safe"]


def test_output_raw_keeps_the_values_as_they_arrived(client, ingest_token, tgam_user, eager_celery):
    ingest(client, ingest_token.raw, formula_events())
    status = start(client, tgam_user, {"filter": WATCHLIST, "output": {"delimiter": ";", "raw": True}}).json()
    assert status["output"] == {"delimiter": ";", "raw": True}
    assert ReportJob.objects.get().raw_values is True
    text = file_text(client, tgam_user, status["source"])
    assert text.split("\n")[1] == f'{barchart_event(0)["timestamp"]};"=HYPERLINK(""http://x"")";=1+2;+SUM(A1);-3;@cmd'
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows[2][2:] == DANGEROUS[4:]


def test_output_raw_must_be_a_boolean(client, tgam_user):
    failure = assert_failure(start(client, tgam_user, {"filter": WATCHLIST, "output": {"raw": "yes"}}), 400,
                             "REQUEST_INPUT_MALFORMED")
    assert '"raw"' in failure[0]["children"][0]["value"]["message"]
    assert ReportJob.objects.count() == 0


def test_the_admin_start_form_offers_raw_values(client, eager_celery):
    staff = User.objects.create_user("boss", password="long-enough-pass-1", is_staff=True, is_superuser=True)
    console_login(client, staff)
    response = client.post("/admin/reports/reportjob/start/", {"customer": "TGAM", "product": "WATCHLIST",
                                                               "delimiter": "|", "raw": "on"})
    assert response.status_code == 302
    assert ReportJob.objects.get().raw_values is True


# --- 8: delimiters and unexpected export errors -----------------------------------------------

@pytest.mark.parametrize("delimiter", ["\\", "é", "€", "\x00", '"', "\n", "\r", ""])
def test_a_delimiter_that_is_not_one_safe_ascii_character_is_refused(client, tgam_user, delimiter):
    failure = assert_failure(start(client, tgam_user, {"filter": WATCHLIST, "output": {"delimiter": delimiter}}),
                             400, "REQUEST_INPUT_MALFORMED")
    assert any('"delimiter"' in child["value"]["message"] for child in failure[0]["children"])
    assert ReportJob.objects.count() == 0


@pytest.mark.parametrize("delimiter", [";", "\t", ",", "'", "^"])
def test_safe_delimiters_round_trip(client, ingest_token, tgam_user, eager_celery, delimiter):
    ingest(client, ingest_token.raw, [barchart_event(1, context=[f"a{delimiter}b", "=x", "c"])])
    source = start(client, tgam_user, {"filter": WATCHLIST, "output": {"delimiter": delimiter}}).json()["source"]
    rows = list(csv.reader(io.StringIO(file_text(client, tgam_user, source), newline=""), delimiter=delimiter))
    assert rows[1][2:] == [f"a{delimiter}b", "'=x", "c"]


def test_an_unexpected_export_error_fails_the_job_at_once_with_the_reason(ingest_token):
    # A row no request could have produced (types must be a list): the export raises TypeError.
    job = ReportJob.objects.create(customer="TGAM", product="WATCHLIST", types=5)
    assert report_job_run(job_id=str(job.pk)) == "FAILED"
    job.refresh_from_db()
    assert job.status == "FAILED" and job.finished_at is not None
    assert job.status_reason.startswith("The export failed: TypeError")


@requires_postgres
def test_a_backslash_delimiter_that_reached_copy_fails_the_job_at_once(client, ingest_token, tgam_user):
    # Before the validation: COPY ... DELIMITER E'\' was a syntax error and the job stayed RUNNING.
    ingest(client, ingest_token.raw, [barchart_event(1)])
    job = ReportJob.objects.create(customer="TGAM", product="WATCHLIST", delimiter="\\")
    assert report_job_run(job_id=str(job.pk)) == "FAILED"
    job.refresh_from_db()
    assert job.status == "FAILED" and "SyntaxError" in job.status_reason
    assert_failure(client.get(f"/reports/{job.source}", headers=tgam_user), 409, "EVENT_JOB_GET_FAILED")


def test_the_management_api_takes_output_raw(client, staff_basic, eager_celery):
    response = client.post("/api/manage/reports/", {"filter": WATCHLIST, "output": {"raw": True}},
                           content_type="application/json", headers=staff_basic)
    assert response.status_code == 201
    assert response.json()["raw_values"] is True and response.json()["report_status"]["output"]["raw"] is True
    assert ReportJob.objects.get().raw_values is True


def test_both_export_paths_write_non_text_context_values_alike(client, tgam_user, eager_celery, ingest_token):
    # A datasource without a catalog takes any JSON in a context: PostgreSQL's ->> writes null as
    # an empty cell and booleans/objects as JSON; the Python path (SQLite) must write the same text.
    from django.utils import timezone

    from events.models import Event

    now = timezone.now()
    Event.objects.create(datasource=ingest_token.token.datasource, epoch=0, batch=uuid.uuid4(), sequence=0,
                         received_at=now, timestamp=now, type="T", customer="TGAM", product="WATCHLIST",
                         payload={"context": [None, True, {"a": 1}, [1, 2], 7, "s"]})
    status = start(client, tgam_user, {"filter": WATCHLIST, "output": {"raw": True}}).json()
    rows = list(csv.reader(io.StringIO(file_text(client, tgam_user, status["source"]), newline=""), delimiter="|"))
    assert rows[1][1:] == ["T", "", "true", '{"a": 1}', "[1, 2]", "7", "s"]
