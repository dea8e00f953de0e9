"""Browser suite: Playwright drives Debian's Chromium against the product started the production way.

Fixtures to build on:
- `product`: the running product (tests/browser/product.py), one per run of this package.
- `staff_page`: a Playwright page already logged in as the staff user (password and second factor,
  tests/browser/product.py's `sign_in`); on failure a full-page
  screenshot goes to SCREENSHOT_DIR (var/screenshots, or $EVENTSITE_SCREENSHOT_DIR).
- `snap(page, name)`: save a screenshot on purpose (for looking at a page as a person would).
- `datasource`: a fresh datasource (via the management API) and its ingest token, per test.
Every test here is marked `browser` (select with -m browser, leave out with -m "not browser").
"""

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from bench.soak import ROOT
from tests.browser.product import STAFF_USERNAME, live_product

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's own connections are refused on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT_DIR = Path(os.environ.get("EVENTSITE_SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
VIEWPORT = {"width": 1366, "height": 900}  # a common laptop screen; the job list must fit it


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def product(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    for stale in SCREENSHOT_DIR.glob("FAILED-*.png"):  # from an earlier run
        stale.unlink()
    database_url = os.environ.get("DATABASE_URL", "")
    postgres = database_url if database_url.startswith(("postgres://", "postgresql://")) else None
    with live_product(log_dir=tmp_path_factory.mktemp("product"), postgres_url=postgres) as running:
        yield running


@pytest.fixture(scope="package")
def browser(product):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def staff_state(product, browser, tmp_path_factory):
    """The staff user's logged-in cookies, made once through the real login form: a superuser, so
    the first sign-in enrols an authenticator (its secret kept as product.staff_secret)."""
    context = browser.new_context(base_url=product.url, viewport=VIEWPORT)
    page = context.new_page()
    enrolment = product.sign_in(page, STAFF_USERNAME, product.staff_password, secret=product.staff_secret or None)
    if enrolment is not None:
        product.staff_secret = enrolment.secret
    path = tmp_path_factory.mktemp("state") / "staff.json"
    context.storage_state(path=str(path))
    context.close()
    return str(path)


def _screenshot_path(name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:150] + ".png")


@pytest.fixture
def snap():
    def save(page, name: str) -> Path:
        path = _screenshot_path(name)
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture
def staff_page(request, product, browser, staff_state):
    context = browser.new_context(base_url=product.url, viewport=VIEWPORT, storage_state=staff_state)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        path = _screenshot_path(f"FAILED-{request.node.nodeid}")
        try:
            page.screenshot(path=str(path), full_page=True)
            print(f"\nscreenshot of the failure: {path}")
        except Exception as exc:  # noqa: BLE001 - the page may be gone; the failure itself is reported anyway
            print(f"\nno screenshot: {exc}")
    context.close()


@pytest.fixture
def datasource(product):
    """A fresh datasource and an ingest token for it, created through the management API."""
    api = product.api()
    slug = f"ds-{uuid.uuid4().hex[:8]}"
    response = api.post(f"{product.url}/api/manage/datasources/", json={"slug": slug, "name": slug}, timeout=30)
    assert response.status_code == 201, response.text
    row = response.json()
    token = api.post(f"{product.url}/api/manage/tokens/", json={"datasource": slug, "scope": "ingest"}, timeout=30)
    assert token.status_code == 201, token.text
    return {"slug": slug, "id": row.get("id") or product.scalar(
        "SELECT id FROM events_datasource WHERE slug = %s", (slug,)), "token": token.json()["token"]}


def pytest_sessionfinish(session, exitstatus):
    # Leave an empty screenshot folder out of CI's listing.
    if SCREENSHOT_DIR.exists() and not any(SCREENSHOT_DIR.iterdir()):
        shutil.rmtree(SCREENSHOT_DIR, ignore_errors=True)
