"""Two-factor sign-in to the console (eventsite/console/twofactor.py): who needs it, the code step,
enrolment, backup codes, django-axes on the second step, and the device admins."""

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from eventsite.audit.models import StaffAction
from eventsite.console.twofactor import BACKUP_CODE_COUNT, NEW_CODES_KEY, PENDING_KEY, backup_codes_regenerate
from eventsite.lib import access
from tests.logins import code_for_secret, console_login, secret_on_page, totp_code

pytestmark = pytest.mark.django_db
PASSWORD = "right-pass-123"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_staff(username: str, role: str | None = None, *, superuser: bool = False) -> User:
    """A staff user in `role` (one of access.ROLES), or a superuser."""
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def enrolled(user: User) -> TOTPDevice:
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    backup_codes_regenerate(user=user)
    return device


def password_step(client: Client, username: str, password: str = PASSWORD, next_url: str = "/admin/"):
    return client.post(f"/admin/login/?next={next_url}", {"username": username, "password": password,
                                                           "next": next_url})


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"


def failures(username: str) -> int:
    return sum(AccessAttempt.objects.filter(username=username).values_list("failures_since_start", flat=True))


# --- The gate, for each kind of user --------------------------------------------------------

@pytest.mark.parametrize("role, superuser, required", [
    (None, True, True),
    (access.OPERATORS, False, True),
    (access.PRIVACY_OFFICERS, False, True),
    (access.REPORT_STAFF, False, False),
    (access.VIEWERS, False, False),
    (None, False, False),  # staff with no role at all
])
def test_the_console_opens_without_a_second_factor_only_to_those_the_rule_spares(client, role, superuser, required):
    user = make_staff("someone", role, superuser=superuser)
    assert access.second_factor_required(user) is required
    client.force_login(user)  # the password only

    response = client.get("/admin/")

    if required:
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
        # The login page sends a signed-in but unverified user on to the second step.
        onward = client.get(response["Location"])
        assert onward.status_code == 302 and onward["Location"].startswith("/admin/twofactor/enrol/")
        assert client.get("/admin/tokens/token/").status_code == 302
    else:
        assert response.status_code == 200
    verified = Client()
    console_login(verified, user)
    assert verified.get("/admin/").status_code == 200
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists() is required


def test_require_2fa_for_staff_widens_the_rule_to_every_staff_user(client, settings):
    viewer = make_staff("viewer", access.VIEWERS)
    plain = User.objects.create_user("plain", password=PASSWORD)  # not staff: no console at all
    settings.REQUIRE_2FA_FOR = "staff"
    assert access.second_factor_required(viewer) and not access.second_factor_required(plain)
    client.force_login(viewer)
    assert client.get("/admin/").status_code == 302

    answer = password_step(Client(), "viewer")
    assert answer.status_code == 302 and answer["Location"].startswith("/admin/twofactor/enrol/")
    console_login(client, viewer)
    assert client.get("/admin/").status_code == 200


def test_a_user_without_rights_signs_in_with_the_password_alone(client):
    make_staff("reporter", access.REPORT_STAFF)
    answer = password_step(client, "reporter")
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert signed_in_user_id(client) == str(User.objects.get(username="reporter").pk)
    assert client.get("/admin/").status_code == 200


def test_a_right_gained_mid_session_asks_for_the_second_factor_first(client):
    user = make_staff("grower", access.REPORT_STAFF)
    console_login(client, user)
    assert client.get("/admin/").status_code == 200
    user.groups.add(Group.objects.get(name=access.OPERATORS))

    assert client.get("/admin/").status_code == 302
    page = client.get("/admin/twofactor/enrol/")
    assert page.status_code == 200
    done = client.post("/admin/twofactor/enrol/", {"code": code_for_secret(secret_on_page(page.content.decode()))})
    assert done.status_code == 302 and done["Location"].startswith("/admin/twofactor/codes/")
    assert client.get("/admin/").status_code == 200


# --- The code step --------------------------------------------------------------------------

def test_the_password_step_alone_logs_nobody_in(client):
    enrolled(make_staff("admin", superuser=True))
    answer = password_step(client, "admin", next_url="/admin/tokens/token/")
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/twofactor/code/?next=%2Fadmin%2Ftokens%2Ftoken%2F"
    assert signed_in_user_id(client) is None  # pending, not logged in: no session-trusting view sees them
    assert client.get("/admin/").status_code == 302
    page = client.get(answer["Location"])
    assert page.status_code == 200 and "Signed in as <strong>admin</strong>" in page.content.decode()


def test_a_right_code_signs_in_and_verifies_the_session(client):
    admin = make_staff("admin", superuser=True)
    device = enrolled(admin)
    step = password_step(client, "admin", next_url="/admin/tokens/token/")["Location"]

    done = client.post(step, {"code": totp_code(device)})

    assert done.status_code == 302 and done["Location"] == "/admin/tokens/token/"
    assert signed_in_user_id(client) == str(admin.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert PENDING_KEY not in client.session
    assert client.get("/admin/tokens/token/").status_code == 200
    device.refresh_from_db()
    assert device.last_used_at is not None


def test_a_wrong_code_is_refused_counted_by_axes_and_leaves_the_session_unverified(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own delay is tested below
    admin = make_staff("admin", superuser=True)
    device = enrolled(admin)
    step = password_step(client, "admin")["Location"]
    right, wrong = totp_code(device), wrong_code(device)

    refused = client.post(step, {"code": wrong})

    assert refused.status_code == 400
    assert "That code is not right" in refused.content.decode()
    assert signed_in_user_id(client) is None and DEVICE_ID_SESSION_KEY not in client.session
    assert failures("admin") == 1
    attempt = AccessAttempt.objects.get(username="admin")
    assert attempt.path_info == "/admin/twofactor/code/" and wrong not in attempt.post_data  # the code is masked
    assert client.get("/admin/").status_code == 302

    assert client.post(step, {"code": right}).status_code == 302
    assert signed_in_user_id(client) == str(admin.pk)
    assert not AccessAttempt.objects.filter(username="admin").exists()  # axes resets on a finished sign-in


def test_an_empty_code_is_refused_without_counting(client):
    enrolled(make_staff("admin", superuser=True))
    step = password_step(client, "admin")["Location"]
    refused = client.post(step, {"code": ""})
    assert refused.status_code == 400 and "This field is required" in refused.content.decode()
    assert failures("admin") == 0 and signed_in_user_id(client) is None


def test_a_locked_out_user_cannot_keep_guessing_codes(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = enrolled(make_staff("admin", superuser=True))
    step = password_step(client, "admin")["Location"]

    statuses = [client.post(step, {"code": wrong_code(device)}).status_code for _ in range(3)]

    assert statuses == [400, 400, 429]  # the third wrong code locks the username out from this address
    assert PENDING_KEY not in client.session
    assert failures("admin") == 3
    # The pending sign-in is gone, and the password step is locked: the right code leads nowhere now.
    again = client.post(step, {"code": totp_code(device)})
    assert again.status_code == 302 and again["Location"].startswith("/admin/login/")
    assert signed_in_user_id(client) is None
    assert password_step(client, "admin").status_code == 429
    assert signed_in_user_id(client) is None and DEVICE_ID_SESSION_KEY not in client.session


def test_a_locked_out_user_with_a_pending_sign_in_gets_the_lockout_not_a_check(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    device = enrolled(make_staff("admin", superuser=True))
    step = password_step(client, "admin")["Location"]
    # Meanwhile someone else fails the password twice for this username from the same address.
    for _ in range(2):
        password_step(Client(), "admin", "wrong")

    locked = client.post(step, {"code": totp_code(device)})

    assert locked.status_code == 429
    assert signed_in_user_id(client) is None
    device.refresh_from_db()
    assert device.last_t == -1  # the code was never checked


def test_django_otp_throttling_stays_on_the_device(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 3600  # one wrong code: an hour before the next check
    device = enrolled(make_staff("admin", superuser=True))
    step = password_step(client, "admin")["Location"]
    right = totp_code(device)
    client.post(step, {"code": wrong_code(device)})

    throttled = client.post(step, {"code": right})

    assert throttled.status_code == 400 and "Too many wrong codes in a row" in throttled.content.decode()
    assert failures("admin") == 1  # a throttled try checks nothing: not a guess
    assert signed_in_user_id(client) is None
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_a_pending_sign_in_expires(client):
    enrolled(make_staff("admin", superuser=True))
    step = password_step(client, "admin")["Location"]
    session = client.session
    session[PENDING_KEY] = {**session[PENDING_KEY], "since": session[PENDING_KEY]["since"] - 3600}
    session.save()
    answer = client.get(step)
    assert answer.status_code == 302 and answer["Location"].startswith("/admin/login/")


def test_the_second_step_never_redirects_off_site(client):
    device = enrolled(make_staff("admin", superuser=True))
    step = password_step(client, "admin", next_url="https://evil.example/")["Location"]
    done = client.post(step, {"code": totp_code(device), "next": "https://evil.example/"})
    assert done.status_code == 302 and done["Location"] == "/admin/"


def test_the_code_step_without_a_password_step_goes_back_to_the_login(client):
    answer = client.post("/admin/twofactor/code/", {"code": "123456"})
    assert answer.status_code == 302 and answer["Location"].startswith("/admin/login/")
    assert AccessAttempt.objects.count() == 0


# --- Backup codes -----------------------------------------------------------------------------

def test_a_backup_code_signs_in_once(client):
    admin = make_staff("admin", superuser=True)
    enrolled(admin)
    code = StaticToken.objects.filter(device__user=admin).first().token
    step = password_step(client, "admin")["Location"]

    done = client.post(step, {"code": code.upper()})  # as typed from a printout

    assert done.status_code == 302 and signed_in_user_id(client) == str(admin.pk)
    backup = StaticDevice.objects.get(user=admin)
    assert client.session[DEVICE_ID_SESSION_KEY] == backup.persistent_id
    assert backup.token_set.count() == BACKUP_CODE_COUNT - 1 and not backup.token_set.filter(token=code).exists()

    assert client.post("/admin/logout/").status_code == 200
    again = Client()
    step = password_step(again, "admin")["Location"]
    refused = again.post(step, {"code": code})
    assert refused.status_code == 400 and "That code is not right" in refused.content.decode()
    assert signed_in_user_id(again) is None
    assert failures("admin") == 1


def test_a_verified_user_makes_new_backup_codes_and_sees_them_once(client):
    admin = make_staff("admin", superuser=True)
    console_login(client, admin)
    backup_codes_regenerate(user=admin)
    old = set(StaticToken.objects.filter(device__user=admin).values_list("token", flat=True))
    page = client.get("/admin/twofactor/")
    assert page.status_code == 200 and f'<span id="codes-left">{BACKUP_CODE_COUNT}</span>' in page.content.decode()

    made = client.post("/admin/twofactor/codes/new/")

    assert made.status_code == 302 and made["Location"] == "/admin/twofactor/codes/"
    new = set(StaticToken.objects.filter(device__user=admin).values_list("token", flat=True))
    assert len(new) == BACKUP_CODE_COUNT and not new & old
    shown = client.get("/admin/twofactor/codes/").content.decode()
    assert set(re.findall(r"<li><code>([a-z2-7]+)</code></li>", shown)) == new
    assert client.get("/admin/twofactor/codes/").status_code == 302  # shown once
    assert NEW_CODES_KEY not in client.session
    recorded = StaffAction.objects.filter(action="2fa.backup_codes").order_by("id").last()
    assert (recorded.actor, recorded.via, recorded.detail["count"]) == (admin, "console", BACKUP_CODE_COUNT)


def test_new_backup_codes_need_a_verified_session(client):
    reporter = make_staff("reporter", access.REPORT_STAFF)
    TOTPDevice.objects.create(user=reporter, confirmed=True)
    client.force_login(reporter)  # not required, so the console opens, but the session is not verified
    assert client.post("/admin/twofactor/codes/new/").status_code == 403
    assert not StaticDevice.objects.filter(user=reporter).exists()
    assert client.get("/admin/twofactor/codes/new/").status_code == 405


# --- Enrolment ----------------------------------------------------------------------------------

def test_enrolment_shows_the_qr_code_and_secret_and_confirms_only_with_a_right_code(client):
    admin = make_staff("admin", superuser=True)
    answer = password_step(client, "admin")
    assert answer.status_code == 302 and answer["Location"] == "/admin/twofactor/enrol/?next=%2Fadmin%2F"
    page = client.get(answer["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert '<svg width="' in html and 'class="segno"' in html and "<img" not in html  # drawn inline
    secret = secret_on_page(html)
    device = TOTPDevice.objects.get(user=admin)
    assert not device.confirmed
    assert client.get(answer["Location"]).content.decode().count(secret) == 1  # a reload: the same secret

    wrong = f"{(int(code_for_secret(secret)) + 1) % 1_000_000:06d}"
    refused = client.post(answer["Location"], {"code": wrong})
    assert refused.status_code == 400 and "That code is not right" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed and signed_in_user_id(client) is None
    assert not StaticDevice.objects.filter(user=admin).exists()

    device.throttle_reset()  # django-otp's delay after the wrong code
    done = client.post(answer["Location"], {"code": code_for_secret(secret)})

    assert done.status_code == 302 and done["Location"] == "/admin/twofactor/codes/?next=%2Fadmin%2F"
    device.refresh_from_db()
    assert device.confirmed and signed_in_user_id(client) == str(admin.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    codes = set(StaticToken.objects.filter(device__user=admin).values_list("token", flat=True))
    assert len(codes) == BACKUP_CODE_COUNT
    shown = client.get(done["Location"]).content.decode()
    assert set(re.findall(r"<li><code>([a-z2-7]+)</code></li>", shown)) == codes
    assert 'href="/admin/" id="backup-codes-continue"' in shown
    assert client.get("/admin/").status_code == 200


def test_someone_with_only_the_password_cannot_replace_an_enrolled_device(client):
    admin = make_staff("admin", superuser=True)
    device = enrolled(admin)
    password_step(client, "admin")

    page = client.get("/admin/twofactor/enrol/")
    posted = client.post("/admin/twofactor/enrol/", {"code": "123456"})

    assert page.status_code == 302 and page["Location"].startswith("/admin/twofactor/code/")
    assert posted.status_code == 302 and posted["Location"].startswith("/admin/twofactor/code/")
    assert list(TOTPDevice.objects.filter(user=admin)) == [device]


def test_a_verified_user_replaces_the_authenticator_app(client):
    admin = make_staff("admin", superuser=True)
    console_login(client, admin)
    old = TOTPDevice.objects.get(user=admin)
    page = client.get("/admin/twofactor/enrol/").content.decode()
    assert "replaces" in page

    done = client.post("/admin/twofactor/enrol/", {"code": code_for_secret(secret_on_page(page))})

    assert done.status_code == 302
    new = TOTPDevice.objects.get(user=admin)
    assert new.pk != old.pk and new.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == new.persistent_id
    assert client.get("/admin/").status_code == 200


# --- Signing out ----------------------------------------------------------------------------------

def test_logging_out_clears_the_verification(client):
    admin = make_staff("admin", superuser=True)
    console_login(client, admin)
    assert client.get("/admin/").status_code == 200

    assert client.post("/admin/logout/").status_code == 200

    assert DEVICE_ID_SESSION_KEY not in client.session and signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302


def test_an_unverified_user_can_still_log_out(client):
    client.force_login(make_staff("admin", superuser=True))
    assert client.post("/admin/logout/").status_code == 200
    assert signed_in_user_id(client) is None


def test_cancelling_a_pending_sign_in_forgets_it(client):
    enrolled(make_staff("admin", superuser=True))
    password_step(client, "admin")
    assert client.post("/admin/logout/").status_code == 200
    assert PENDING_KEY not in client.session
    assert client.get("/admin/twofactor/code/")["Location"].startswith("/admin/login/")


# --- Devices in the admin -------------------------------------------------------------------------

def test_a_superuser_deletes_another_users_device_and_that_user_enrols_again(admin_client):
    operator = make_staff("operator", access.OPERATORS)
    device = enrolled(operator)
    listing = admin_client.get("/admin/otp_totp/totpdevice/")
    assert listing.status_code == 200 and "operator" in listing.content.decode()

    deleted = admin_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    backup = StaticDevice.objects.get(user=operator)
    admin_client.post(f"/admin/otp_static/staticdevice/{backup.pk}/delete/", {"post": "yes"})

    assert deleted.status_code == 302
    assert not TOTPDevice.objects.filter(user=operator).exists()
    assert not StaticDevice.objects.filter(user=operator).exists()
    answer = password_step(Client(), "operator")
    assert answer["Location"].startswith("/admin/twofactor/enrol/")


def test_a_deleted_device_unverifies_the_sessions_it_verified(admin_client):
    operator = make_staff("operator", access.OPERATORS)
    client = Client()
    console_login(client, operator)
    assert client.get("/admin/").status_code == 200
    device = TOTPDevice.objects.get(user=operator)
    admin_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert client.get("/admin/").status_code == 302


def test_nobody_adds_edits_or_reads_the_secret_of_a_device_in_the_admin(admin_client):
    operator = make_staff("operator", access.OPERATORS)
    device = enrolled(operator)
    admin = User.objects.get(username="admin")

    assert admin_client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    assert admin_client.post("/admin/otp_totp/totpdevice/add/", {
        "user": operator.pk, "name": "mine", "key": "00" * 20, "confirmed": "on", "step": 30, "t0": 0,
        "digits": 6, "tolerance": 1, "drift": 0, "throttling_failure_count": 0}).status_code == 403
    assert admin_client.get("/admin/otp_static/staticdevice/add/").status_code == 403
    changed = admin_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/change/", {
        "user": admin.pk, "name": "taken", "confirmed": "on"})
    assert changed.status_code == 403
    assert TOTPDevice.objects.filter(user=operator).count() == 1 and TOTPDevice.objects.filter(name="mine").count() == 0
    device.refresh_from_db()
    assert device.user_id == operator.pk and device.name == "Authenticator app"

    page = admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200 and device.key not in page.content.decode()
    for page in ("config", "qrcode"):  # django-otp's pages with the QR code: not in the console
        answer = admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/{page}/", follow=True)
        assert answer.redirect_chain and answer["Content-Type"].startswith("text/html")
        assert device.key not in answer.content.decode() and "otpauth://" not in answer.content.decode()
    backup = StaticDevice.objects.get(user=operator)
    static_page = admin_client.get(f"/admin/otp_static/staticdevice/{backup.pk}/change/").content.decode()
    assert not any(token in static_page for token in backup.token_set.values_list("token", flat=True))


def test_only_superusers_delete_devices(client):
    operator = make_staff("operator", access.OPERATORS)
    device = enrolled(operator)
    staff = make_staff("deviceadmin", access.OPERATORS)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["otp_totp", "otp_static"]))
    console_login(client, staff)

    assert client.get("/admin/otp_totp/totpdevice/").status_code == 200  # may see them
    refused = client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})

    assert refused.status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
