"""A report started from the console's form with catalog dropdowns, watched to completion, downloaded."""

import csv
import io
import json
import re

import requests
from playwright.sync_api import expect

from tests.browser.test_catalog import CATALOG, upload_catalog

T0 = 1795503600000  # 2026-11-24T07:00:00Z


def test_a_report_started_from_the_form_completes_and_downloads(staff_page, product, datasource, snap):
    page = staff_page
    upload_catalog(page, datasource["slug"], json.dumps(CATALOG))
    expect(page.locator(".messagelist")).to_contain_text("Imported")
    events = [{"customer": "TGAM", "product": "WATCHLIST", "type": "WATCHLIST-SYMBOL-ADDED", "timestamp": T0 + i,
               "context": [f"user-{i}", "AAPL"]} for i in range(3)]
    posted = requests.post(f"{product.url}/events", json={"events": events}, timeout=30,
                           headers={"X-KSense-Tok": datasource["token"]})
    assert posted.status_code == 200, posted.text

    page.goto("/admin/reports/reportjob/")
    page.click("#start-report")
    options = page.locator("#id_customer option").all_inner_texts()
    assert "TGAM" in options and "BARCHART" in options  # a dropdown from the catalog, not free text
    page.select_option("#id_customer", "TGAM")
    page.select_option("#id_product", "WATCHLIST")
    expect(page.locator("#id_start")).to_have_attribute("type", "datetime-local")
    page.fill("#id_start", "2026-11-24T07:00")
    snap(page, "report-start-form")
    page.click("#start")
    expect(page.locator(".messagelist")).to_contain_text("Started report JOB-")
    source = re.search(r"JOB-[0-9a-f-]{36}", page.locator(".messagelist").inner_text()).group(0)
    row = page.locator("#result_list tbody tr", has=page.locator(f"span[title='{source}']"))
    # No clicking: the list reloads itself while the job runs.
    expect(row.locator(".job-status")).to_have_text("Complete", timeout=60_000)
    snap(page, "report-list-1366")
    # Fits 1366 px: neither the page nor the table (which scrolls on its own in the admin) overflows.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("(() => { const r = document.querySelector('#changelist .results');"
                         " return r.scrollWidth <= r.clientWidth; })()")
    expect(row.locator("text=Download")).to_be_in_viewport()
    with page.expect_download() as download:
        row.locator("text=Download").click()
    content = open(download.value.path(), encoding="utf-8").read()
    rows = list(csv.reader(io.StringIO(content), delimiter="|"))
    assert rows == [["timestamp", "type", "userId", "symbol"],
                    *[[str(T0 + i), "WATCHLIST-SYMBOL-ADDED", f"user-{i}", "AAPL"] for i in range(3)]]
    # The newest job is this one (ids are stored differently per backend; only this test starts reports).
    assert product.sql("SELECT status, rows FROM reports_reportjob ORDER BY created_at DESC LIMIT 1") == [
        ("COMPLETE", 3)]
