"""Signing staff in to the console in tests, the way a finished sign-in leaves the session."""

import re
from base64 import b32decode

from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from eventsite.console.twofactor import PENDING_KEY
from eventsite.lib.access import second_factor_required


def console_login(client, user) -> None:
    """Log `user` in to the console with `client` (a django.test.Client): the password step, and
    the second factor where eventsite/lib/access.py requires one (or the user has a device): a
    confirmed TOTP device (created if missing) marked in the session as django_otp.login does."""
    client.force_login(user)
    fresh = type(user).objects.get(pk=user.pk)  # the rights as they are now, not a stale permission cache
    if not (second_factor_required(fresh) or user_has_device(fresh, confirmed=True)):
        return
    device = TOTPDevice.objects.filter(user=fresh, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=fresh, name="Authenticator app", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def totp_code(device: TOTPDevice) -> str:
    """A code `device` accepts now: the current time step, or the one after the last code it took
    (it takes each step once; its tolerance of one step covers the next)."""
    device.refresh_from_db()
    now = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).t()
    return f"{hotp(device.bin_key, max(now, device.last_t + 1), digits=device.digits):0{device.digits}d}"


def code_for_secret(secret: str) -> str:
    """The current code of an authenticator app holding `secret` (the base32 text enrolment shows)."""
    totp = TOTP(b32decode("".join(secret.split())))
    return f"{totp.token():06d}"


def secret_on_page(html: str) -> str:
    match = re.search(r'<code id="totp-secret">([^<]+)</code>', html)
    assert match, "no secret on the enrolment page"
    return match.group(1)


def second_step(client, response, **extra):
    """Finish, with `client` (a django.test.Client), a sign-in that the password step left at the
    code step or at enrolment (`response` is its redirect): return the answer to the code."""
    location = response["Location"]
    if "/twofactor/enrol/" in location:
        code = code_for_secret(secret_on_page(client.get(location, **extra).content.decode()))
    else:
        assert "/twofactor/code/" in location, location
        user_id = client.session[PENDING_KEY]["user"]
        code = totp_code(TOTPDevice.objects.get(user_id=user_id, confirmed=True))
    return client.post(location, {"code": code}, **extra)


def second_step_over_http(http, base: str, response):
    """second_step for a requests.Session signing in to a live server (enrolment: the user has no device)."""
    location = response.headers["Location"]
    assert "/twofactor/enrol/" in location, location
    page = http.get(base + location, timeout=30)
    return http.post(base + location, data={"code": code_for_secret(secret_on_page(page.text)),
                                            "csrfmiddlewaretoken": http.cookies["csrftoken"]},
                     headers={"Referer": base + location}, allow_redirects=False, timeout=30)
