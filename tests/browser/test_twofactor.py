"""Two-factor sign-in in a real browser: enrolment with the secret read from the page, codes made
in the test (django_otp.oath from that secret), a wrong code, a backup code that works once."""

import re
import uuid

from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORT
from tests.logins import code_for_secret


def _new_superuser(product) -> str:
    username = f"admin-{uuid.uuid4().hex[:8]}"
    product.create_superuser(username)
    return username


def _password_step(page, username: str, password: str) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/twofactor/code/"))


def _log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("body")).to_contain_text("Logged out")


def _tokens_left(product, username: str) -> int:
    return product.scalar("SELECT COUNT(*) FROM otp_static_statictoken t JOIN otp_static_staticdevice d "
                          "ON d.id = t.device_id JOIN auth_user u ON u.id = d.user_id WHERE u.username = %s",
                          (username,))


def _failures(product, username: str) -> int:
    return product.scalar("SELECT COALESCE(SUM(failures_since_start), 0) FROM axes_accessattempt "
                          "WHERE username = %s", (username,))


def test_a_superuser_enrols_from_the_browser_and_signs_in_with_a_code(product, browser, snap):
    username = _new_superuser(product)
    context = browser.new_context(base_url=product.url, viewport=VIEWPORT)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", product.staff_password)
    page.click("input[type=submit]")

    page.wait_for_url(re.compile(r"/admin/twofactor/enrol/"))
    expect(page.locator("#totp-qr svg")).to_be_visible()
    snap(page, "twofactor-enrol")
    secret = page.inner_text("#totp-secret")
    enrol_url = page.url
    page.goto("/admin/")  # no console before the second factor
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    page.goto(enrol_url)
    assert page.inner_text("#totp-secret") == secret  # the same enrolment, until confirmed
    page.fill("#id_code", code_for_secret(secret))
    page.click("#twofactor-enrol-form input[type=submit]")

    page.wait_for_url(re.compile(r"/admin/twofactor/codes/"))
    codes = page.locator("#backup-codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    snap(page, "twofactor-backup-codes")
    page.click("#backup-codes-continue")
    page.wait_for_url(re.compile(r"/admin/$"))
    assert product.scalar("SELECT COUNT(*) FROM otp_totp_totpdevice d JOIN auth_user u ON u.id = d.user_id "
                          "WHERE u.username = %s AND d.confirmed", (username,)) == 1
    assert _tokens_left(product, username) == 10
    page.reload()
    page.goto("/admin/twofactor/codes/")  # shown once: the codes are gone
    expect(page.locator("#backup-codes")).to_have_count(0)
    expect(page.locator("#codes-left")).to_have_text("10")

    _log_out(page)
    _password_step(page, username, product.staff_password)
    snap(page, "twofactor-code")
    page.fill("#id_code", product.totp_code(username, secret))
    page.click("#twofactor-code-form input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.goto("/admin/tokens/token/")
    expect(page.locator("#content h1")).to_contain_text("token")
    context.close()


def test_a_wrong_code_is_refused_and_opens_nothing(product, browser, snap):
    username = _new_superuser(product)
    context = browser.new_context(base_url=product.url, viewport=VIEWPORT)
    page = context.new_page()
    enrolment = product.sign_in(page, username, product.staff_password)
    _log_out(page)
    right = product.totp_code(username, enrolment.secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    _password_step(page, username, product.staff_password)
    page.fill("#id_code", wrong)
    page.click("#twofactor-code-form input[type=submit]")

    expect(page.locator("#code-error")).to_contain_text("That code is not right")
    snap(page, "twofactor-wrong-code")
    assert re.search(r"/admin/twofactor/code/", page.url)
    assert _failures(product, username) == 1  # counted by django-axes like a wrong password
    page.goto("/admin/tokens/token/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    expect(page.locator("#id_password")).to_be_visible()
    context.close()


def test_a_backup_code_signs_in_once(product, browser):
    username = _new_superuser(product)
    context = browser.new_context(base_url=product.url, viewport=VIEWPORT)
    page = context.new_page()
    enrolment = product.sign_in(page, username, product.staff_password)
    _log_out(page)
    code = enrolment.backup_codes[3]

    _password_step(page, username, product.staff_password)
    page.fill("#id_code", code)
    page.click("#twofactor-code-form input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    assert _tokens_left(product, username) == 9
    page.goto("/admin/twofactor/")
    expect(page.locator("#codes-left")).to_have_text("9")
    expect(page.locator('tr[data-device="backup"]')).to_contain_text("this session")

    _log_out(page)
    _password_step(page, username, product.staff_password)
    page.fill("#id_code", code)
    page.click("#twofactor-code-form input[type=submit]")
    expect(page.locator("#code-error")).to_contain_text("That code is not right")
    assert re.search(r"/admin/twofactor/code/", page.url)
    assert _tokens_left(product, username) == 9
    context.close()
