"""The console's first page, health panel and locked-out admins, in a real browser: the overview's
figures match the events this test posted and the requests it got refused."""

import re
import time

import requests
from playwright.sync_api import expect

from tests.browser.product import STAFF_USERNAME

REASONS = ("400", "401", "403", "413", "429", "503", "other")


def figures(page, slug: str) -> dict[str, str]:
    """One datasource's row of the overview as the staff user sees it: figure name -> text."""
    row = page.locator(f'#overview-datasources tr[data-datasource="{slug}"]')
    found = {}
    for cell in row.locator("td[data-figure]").all():
        name = cell.get_attribute("data-figure")
        if name == "rejected":
            name = REASONS[sum(1 for key in found if key in REASONS)]
        found[name] = cell.inner_text().strip()
    return found


def unattributed_401(page) -> int:
    row = page.locator('#overview-datasources tr[data-datasource=""]')
    if row.count() == 0:
        return 0
    return int(row.locator('td[data-figure="rejected"]').nth(1).inner_text())


def reload_until(page, predicate, timeout: float = 40.0):
    """Refusals reach the page when the web process flushes them (every few seconds): reload as an operator would."""
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(1)


def test_the_overview_shows_the_events_posted_and_the_requests_refused(product, staff_page, datasource, snap):
    page = staff_page
    slug, token = datasource["slug"], datasource["token"]
    page.goto("/admin/")
    before_401 = unattributed_401(page)

    assert product.post_events(token, [{"type": "pv"}] * 3).status_code == 200
    assert product.post_events(token, [{"type": "click"}] * 4).status_code == 200
    url = f"{product.url}/api/v2/events/post_event"
    refused = [requests.post(url, json=[{"type": "pv"}], headers={"X-KSense-Tok": "evs_not-a-token"}, timeout=30)
               for _ in range(2)]
    refused.append(requests.post(url, data=b"{not json", headers={"X-KSense-Tok": token,
                                                                   "Content-Type": "application/json"}, timeout=30))
    assert [r.status_code for r in refused] == [401, 401, 400]
    product.manage("rollup_events")  # what the scheduler does every 30 s

    page.goto("/admin/")
    expect(page.locator("#overview-freshness")).to_contain_text("Event figures as of")
    row = figures(page, slug)
    assert (row["last_hour"], row["today"], row["seven_days"]) == ("7", "7", "7")
    assert row["active_tokens"] == "1" and row["suppressions"] == "0"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["last_event"])
    assert reload_until(page, lambda: figures(page, slug)["400"] == "1"), figures(page, slug)
    assert reload_until(page, lambda: unattributed_401(page) >= before_401 + 2)
    assert [figures(page, slug)[reason] for reason in REASONS] == ["1", "0", "0", "0", "0", "0", "0"]
    expect(page.locator("svg.console-chart")).to_be_visible()
    expect(page.locator('a[href="/admin/tokens/token/"]').first).to_be_visible()  # the app list is still below
    snap(page, "overview")

    page.get_by_role("link", name="(full panel)").click()
    # The product runs a worker of the default queue: it reports itself alive within 30 s of starting.
    default_workers = page.locator('tr[data-check="Workers: default queue"]')
    alive = reload_until(page, lambda: default_workers.get_attribute("data-state") == "ok")
    assert alive, default_workers.inner_text()
    expect(page.locator('tr[data-check="Object storage"]')).to_have_attribute("data-state", "ok")
    expect(page.locator('tr[data-check="Database size"]')).to_have_attribute("data-state", "ok")
    ping = page.locator('tr[data-check="Workers (ping)"]')
    expect(ping).to_have_attribute("data-state", re.compile("ok|warning|unknown"))  # a loaded machine may miss 0.4 s
    snap(page, "health")


def test_a_locked_out_admin_is_unlocked_from_the_console(product, staff_page, browser):
    username = f"locked-{int(time.time() * 1000) % 10**8}"
    product.manage("createsuperuser", "--noinput", "--username", username, "--email", f"{username}@example.com")
    other = browser.new_context(base_url=product.url)
    login = other.new_page()
    for _ in range(10):  # ADMIN_LOGIN_FAILURE_LIMIT
        login.goto("/admin/login/")
        login.fill("#id_username", username)
        login.fill("#id_password", "wrong password")
        login.click("input[type=submit]")
    login.goto("/admin/login/")
    login.fill("#id_username", username)
    login.fill("#id_password", product.staff_password)
    login.click("input[type=submit]")
    expect(login.locator("body")).not_to_contain_text("Site administration")

    page = staff_page
    page.goto("/admin/")
    page.get_by_role("link", name="see and unlock").click()
    expect(page.locator(f'tr[data-username="{username}"]')).to_be_visible()
    page.get_by_role("button", name=f"Unlock {username}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Unlocked {username}")
    expect(page.locator(f'tr[data-username="{username}"]')).to_have_count(0)
    assert product.scalar("SELECT COUNT(*) FROM axes_accessattempt WHERE username = %s", (username,)) == 0

    product.sign_in(login, username, product.staff_password)  # a superuser: enrols, then lands on the console
    expect(login).to_have_url(re.compile(r"/admin/$"))
    expect(login.locator("body")).to_contain_text("Site administration")
    other.close()
    assert STAFF_USERNAME != username
