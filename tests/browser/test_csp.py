"""The Content-Security-Policy in a real browser: every console page and the API docs load and run their
scripts without one violation (the policy: CONTENT_SECURITY_POLICY in settings; its header: eventsite/tests/
test_csp.py).

Each page gets a listener for `securitypolicyviolation` before any of its scripts run (add_init_script), and
Chromium's console is watched for its "Content Security Policy" errors. The list of pages is the console's
own: every model the overview's sidebar links to, its add page and the change page of its first row, plus
the pages that span apps (health, lockouts, purges, report start, token issued/revoke) and /api/docs/.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_catalog import CATALOG, upload_catalog

COLLECT = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} `
    + `at ${event.sourceFile}:${event.lineNumber} ${event.sample}`);
});
"""
# Read after the page's own tasks: a violation is reported in a task queued when it happens.
READ = "() => new Promise((done) => setTimeout(() => done(window.__cspViolations || ['collector missing']), 0))"
CHANGELIST = re.compile(r"^/admin/(\w+)/(\w+)/$")
CHANGE = re.compile(r"^/admin/\w+/\w+/[^/]+/change/")  # ids are numbers or UUIDs (report jobs)


class CspWatch:
    """Collects violations (the DOM event) and CSP console errors of one Playwright page."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        self.visited: list[str] = []
        page.add_init_script(COLLECT)
        page.on("console", self._on_console)

    def _on_console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(f"{self.page.url}: {message.text}")

    def violations(self) -> list[str]:
        return self.page.evaluate(READ)

    def visit(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        assert "content-security-policy" in response.headers, path  # Playwright lowercases header names
        self.page.wait_for_load_state("load")
        self.check(path)

    def check(self, where: str) -> None:
        self.visited.append(where)
        assert self.violations() == [], where
        assert self.console == [], where


@pytest.fixture
def watched(staff_page):
    return CspWatch(staff_page)


def _hrefs(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "(links) => links.map((a) => a.getAttribute('href'))")


def _seed(product, watched, datasource) -> None:
    """Rows for every change page: events, a purge (audit, suppression), a report job, a personal token."""
    page = watched.page
    assert product.post_events(datasource["token"], [
        {"type": "pv", "user_id": {"email": "ann@example.com"}}, {"type": "click"}]).status_code == 200
    # A user purge, through its dry run (the page whose inline script hides a stale count).
    watched.visit(f"/admin/events/datasource/{datasource['id']}/purge-user/")
    page.select_option("#id_user_id_type", "email")
    page.fill("#id_user_id", "ann@example.com")
    page.press("#id_user_id", "Enter")
    expect(page.locator("#preview-count")).to_have_text("1")
    page.fill("#id_user_id", "bob@example.com")  # runs the page's inline script: it must be allowed
    expect(page.locator("#dry-run-result")).to_be_hidden()
    watched.check("purge-user: after an edit")
    page.fill("#id_user_id", "ann@example.com")
    page.check("input[name=suppress]")  # a suppression row too (before the count: an edit hides it)
    page.press("#id_user_id", "Enter")
    expect(page.locator("#preview-count")).to_have_text("1")
    page.click("#confirm")
    expect(page.locator(".messagelist")).to_contain_text("Purged")
    watched.check("purge-user: done")
    # A personal API token, issued in the console: its page shows it once, with a Copy button (a script).
    watched.visit("/admin/tokens/personaltoken/add/")
    page.fill("#id_label", "csp test")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/tokens/personaltoken/\d+/issued/$"))
    assert page.input_value("#raw-token").startswith("evp_")
    page.click("#copy-token")
    watched.check("personal token issued")
    token_id = re.search(r"/personaltoken/(\d+)/", page.url).group(1)
    watched.visit(f"/admin/tokens/personaltoken/{token_id}/revoke/")
    # A catalog (its upload page, its rows), and a report job started from the form.
    upload_catalog(page, datasource["slug"], json.dumps(CATALOG))
    expect(page.locator(".messagelist")).to_contain_text("Imported")
    watched.check("catalog imported")
    watched.visit("/admin/reports/reportjob/start/")
    page.select_option("#id_customer", "TGAM")
    page.select_option("#id_product", "WATCHLIST")
    page.fill("#id_start", "2026-11-24T07:00")
    page.click("#start")
    expect(page.locator(".messagelist")).to_contain_text("Started report JOB-")
    watched.check("report started")
    # The job list reloads itself while a job runs: let it finish before the pages are walked.
    expect(page.locator("#result_list .job-status", has_text="Running")).to_have_count(0, timeout=60_000)


def test_no_console_page_and_not_the_api_docs_violate_the_policy(product, watched, datasource, snap):
    page = watched.page
    _seed(product, watched, datasource)

    for path in ["/admin/", "/admin/health/", "/admin/lockouts/", "/admin/password_change/",
                 f"/admin/events/datasource/{datasource['id']}/purge-dataset/"]:
        watched.visit(path)

    watched.visit("/admin/")
    changelists = sorted({href for href in _hrefs(page, "a[href^='/admin/']") if CHANGELIST.match(href)})
    assert len(changelists) >= 8, changelists  # the sidebar listed the console's models
    for changelist in changelists:
        watched.visit(changelist)
        # The list's own buttons (add, upload, start; not the sidebar's add links) and its first row.
        tools = [href for href in _hrefs(page, "#content .object-tools a[href]") if href.startswith("/admin/")]
        rows = [href for href in _hrefs(page, "#result_list tbody a[href]") if CHANGE.match(href)]
        for path in tools + rows[:1]:
            watched.visit(path)

    # Token pages of their own: the ingest token issued/revoke pages.
    token_id = product.scalar("SELECT t.id FROM tokens_token t JOIN events_datasource d ON d.id = t.datasource_id "
                              "WHERE d.slug = %s", (datasource["slug"],))
    watched.visit(f"/admin/tokens/token/{token_id}/revoke/")
    watched.visit(f"/admin/tokens/token/{token_id}/issued/")

    # The API docs: Swagger UI must have run (its inline start-up script is allowed by nonce).
    watched.visit("/api/docs/")
    expect(page.locator("#swagger-ui .information-container")).to_be_visible()
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible()
    page.locator("#swagger-ui .opblock-summary").first.click()  # expanding an operation renders more of it
    watched.check("api docs, an operation expanded")
    snap(page, "csp-api-docs")

    visited = set(watched.visited)
    for expected in ["/admin/events/event/", "/admin/events/purgeaudit/", "/admin/tokens/personaltoken/",
                     "/admin/reports/reportjob/", "/admin/auth/user/"]:
        assert expected in visited, expected
    for model in ["events/datasource", "events/purgeaudit", "events/suppression", "events/event",
                  "events/catalogeventtype", "tokens/token", "tokens/personaltoken", "reports/reportjob", "auth/user"]:
        assert any(re.search(rf"^/admin/{model}/[^/]+/change/", path) for path in visited), model
    for add in ["events/datasource", "tokens/token", "tokens/personaltoken", "auth/user", "auth/group"]:
        assert f"/admin/{add}/add/" in visited, add


def test_the_watch_does_catch_a_violation(product, watched):
    """The control: a script without the nonce, added to a console page, is reported (so an empty list
    above means no violation, not a collector that saw nothing)."""
    watched.visit("/admin/")
    watched.page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.__ran = true";
        document.body.appendChild(script);
    }""")
    found = watched.violations()
    assert len(found) == 1 and found[0].startswith("script-src")
    assert watched.page.evaluate("() => window.__ran === undefined")
