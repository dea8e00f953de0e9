"""Report jobs in the console: the start form (catalog choices, date pickers) and the job list."""

import pytest

from events.catalog import catalog_import
from events.tests.test_barchart_api import SMALL_CATALOG
from reports.models import ReportJob
from tests.logins import console_login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client, admin_user):
    console_login(client, admin_user)
    return client


def test_the_start_form_offers_the_catalogs_codes_and_refuses_others(staff, datasource, eager_celery):
    catalog_import(datasource=datasource, document=SMALL_CATALOG)
    page = staff.get("/admin/reports/reportjob/start/").content.decode()
    assert '<option value="TGAM">TGAM</option>' in page and '<option value="WATCHLIST">WATCHLIST</option>' in page
    assert 'type="datetime-local"' in page
    refused = staff.post("/admin/reports/reportjob/start/", {"customer": "NOPE", "product": "WATCHLIST",
                                                             "start": "NOPE", "delimiter": "|"})
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode() and "Enter a valid date/time" in refused.content.decode()
    assert ReportJob.objects.count() == 0
    started = staff.post("/admin/reports/reportjob/start/", {"customer": "TGAM", "product": "WATCHLIST",
                                                             "start": "2026-11-24T07:00", "delimiter": "|"})
    assert started.status_code == 302
    job = ReportJob.objects.get()
    assert (job.customer, job.start_ms, job.status) == ("TGAM", 1795503600000, "COMPLETE")


def test_without_a_catalog_the_codes_are_free_text(staff, datasource, eager_celery):
    page = staff.get("/admin/reports/reportjob/start/").content.decode()
    assert 'name="customer" maxlength="64"' in page and "<select" not in page.split('name="customer"')[0][-200:]


def test_the_job_list_reloads_itself_while_a_job_runs(staff, admin_user):
    job = ReportJob.objects.create(requested_by=admin_user, customer="TGAM", product="WATCHLIST")
    running = staff.get("/admin/reports/reportjob/").content.decode()
    assert '<meta http-equiv="refresh" content="5">' in running
    assert 'data-status="RUNNING"' in running and ">Running</strong>" in running
    assert f'title="{job.source}" style="white-space: nowrap">{str(job.id)[:8]}…' in running
    ReportJob.objects.filter(pk=job.pk).update(status="COMPLETE", file_key="reports/x.csv", bytes=2048)
    done = staff.get("/admin/reports/reportjob/").content.decode()
    assert 'http-equiv="refresh"' not in done and ">Complete</strong>" in done and ">Download</a>" in done
