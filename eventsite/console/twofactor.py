"""Two-factor sign-in to the console (issue 15), with django-otp's TOTP and static (backup code) devices.

The flow: the password step (the admin's login form, `PasswordStepView`) checks the password but,
for a user who needs a second factor (eventsite/lib/access.py's `second_factor_required`, or anyone
who has enrolled a device), does not log in: it keeps the user "pending" in a fresh session and
sends them to the code step (a TOTP code or a backup code) or, without a confirmed device yet, to
enrolment (QR code and secret, confirmed with a code; 10 backup codes shown once). Only then does
`django.contrib.auth.login` run, with the device persisted the way `django_otp.login` does, so
nothing that trusts a session (the management API, report downloads) sees a half-signed-in user.
ConsoleAdminSite.has_permission also requires `request.user.is_verified()` of those the rule names
(a session whose user gained a sensitive right after signing in must pass the code step first).

django-axes counts the second step too: a refused code is sent as `user_login_failed` for that
username and address, and a locked-out user is answered with the lockout before any code is
checked. Each device also keeps django-otp's own throttling (1, 2, 4 … seconds after a wrong code).
"""

import time
from urllib.parse import urlencode

import segno
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django import forms
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from eventsite.audit.services import staff_action_record
from eventsite.lib.access import second_factor_required

PENDING_KEY = "console_2fa_pending"  # the user who passed the password step, waiting for the second
ENROL_DEVICE_KEY = "console_2fa_enrol_device"  # the unconfirmed TOTP device this session is enrolling
NEW_CODES_KEY = "console_2fa_new_codes"  # backup codes to show once, on the next page
PENDING_SECONDS = 600  # time to find the phone (or enrol) after the password step
BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"

WRONG_CODE = ("That code is not right. Enter the 6-digit code your authenticator app shows now, "
              "or one of your backup codes.")


# --- The rule, per session -------------------------------------------------------------------

def session_passes(request: HttpRequest) -> bool:
    """Whether this signed-in session may use the console as far as the second factor goes."""
    user = request.user
    return not second_factor_required(user) or _is_verified(user)


def _is_verified(user) -> bool:
    is_verified = getattr(user, "is_verified", None)  # installed by django_otp's OTPMiddleware
    return bool(is_verified and is_verified())


def needs_second_step(user) -> bool:
    """Whether signing `user` in takes a code (or enrolment) after the password."""
    return second_factor_required(user) or user_has_device(user, confirmed=True)


# --- Pending sign-ins ------------------------------------------------------------------------

def pending_start(request: HttpRequest, user) -> None:
    # A new session key: a session id planted before the password step learns nothing of it.
    request.session.cycle_key()
    request.session[PENDING_KEY] = {"user": user.pk, "backend": user.backend, "since": time.time()}


def pending_clear(request: HttpRequest) -> None:
    for key in (PENDING_KEY, ENROL_DEVICE_KEY):
        request.session.pop(key, None)


def _pending_user(request: HttpRequest):
    data = request.session.get(PENDING_KEY)
    if not isinstance(data, dict) or time.time() - data.get("since", 0) > PENDING_SECONDS:
        return None
    user = get_user_model().objects.filter(pk=data.get("user"), is_active=True, is_staff=True).first()
    if user is not None:
        user.backend = data["backend"]
    return user


def second_step_user(request: HttpRequest):
    """Who is at the second step: a signed-in user not yet verified (a right gained mid-session),
    else the pending user of the password step; None when there is nobody (or they are done)."""
    if request.user.is_authenticated:
        return None if _is_verified(request.user) else request.user
    return _pending_user(request)


def sign_in_finish(request: HttpRequest, user, device) -> None:
    """The second factor passed: log the user in (if the password step left them pending) and mark
    the session verified by `device`, as django_otp.login does."""
    if request.user.is_authenticated and request.user.pk == user.pk:
        request.session.cycle_key()  # the session changes privilege
    else:
        auth_login(request, user, backend=user.backend)  # axes records the success and resets failures
    otp_login(request, device)
    pending_clear(request)


# --- Devices -----------------------------------------------------------------------------------

def _confirmed(model, user):
    return model.objects.devices_for_user(user, confirmed=True).order_by("pk")


def code_check(*, user, code: str) -> tuple[object | None, str, bool]:
    """The device of `user` that accepts `code` (consuming it: a TOTP step or a backup code is good
    once), else None with the reason and whether it was a real guess (a throttled device checks
    nothing). Six digits are a TOTP code, anything else a backup code: a mistyped TOTP code does
    not throttle the backup codes a user may turn to next."""
    normalized = "".join(code.split()).replace("-", "").lower()
    model = TOTPDevice if normalized.isdigit() and len(normalized) in (6, 8) else StaticDevice
    with transaction.atomic():
        devices = list(_confirmed(model, user).select_for_update())
        for device in devices:
            allowed, details = device.verify_is_allowed()
            if not allowed:
                seconds = max(1, int((details["locked_until"] - timezone.now()).total_seconds() + 0.999))
                return None, f"Too many wrong codes in a row: wait {seconds} s before the next try.", False
            if device.verify_token(normalized):
                return device, "", True
    return None, WRONG_CODE, True


def enrol_device(request: HttpRequest, user) -> TOTPDevice:
    """The unconfirmed TOTP device this session is enrolling for `user` (a new secret otherwise)."""
    device_id = request.session.get(ENROL_DEVICE_KEY)
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first() if device_id else None
    if device is None:
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()  # an abandoned enrolment
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
        request.session[ENROL_DEVICE_KEY] = device.pk
    return device


@transaction.atomic
def totp_enrol_confirm(*, user, device: TOTPDevice) -> list[str]:
    """Make `device` the user's authenticator (replacing any other) and issue fresh backup codes."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return backup_codes_regenerate(user=user)


@transaction.atomic
def backup_codes_regenerate(*, user) -> list[str]:
    """BACKUP_CODE_COUNT new backup codes for `user`; the old ones stop working. The device row is
    kept, so a session verified by a backup code stays verified."""
    device = _confirmed(StaticDevice, user).first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    device.token_set.all().delete()
    device.throttle_reset(commit=False)
    device.save()
    codes: set[str] = set()
    while len(codes) < BACKUP_CODE_COUNT:
        codes.add(StaticToken.random_token())
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in sorted(codes)])
    staff_action_record(action="2fa.backup_codes", target=user, detail={"device_id": device.pk, "count": len(codes)})
    return sorted(codes)


def secret_text(device: TOTPDevice) -> str:
    """The key as authenticator apps take it typed in: base32, in groups of four."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG QR code (drawn here: no request leaves the page)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, light="#fff", title="QR code to scan")


# --- Views -------------------------------------------------------------------------------------

class CodeForm(forms.Form):
    code = forms.CharField(label="Code", max_length=32, widget=forms.TextInput(attrs={
        "autocomplete": "one-time-code", "autofocus": True, "autocapitalize": "none", "spellcheck": "false"}))


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return reverse("admin:index")


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({REDIRECT_FIELD_NAME: next_url})}" if next_url else url


def second_step_redirect(user, next_url: str) -> HttpResponseRedirect:
    step = "admin:console_2fa_code" if user_has_device(user, confirmed=True) else "admin:console_2fa_enrol"
    return HttpResponseRedirect(_with_next(reverse(step), next_url))


class PasswordStepView(LoginView):
    """The admin's login form; a user who needs a second factor is kept pending, not logged in."""

    def form_valid(self, form):
        user = form.get_user()
        if not needs_second_step(user):
            pending_clear(self.request)  # someone else's unfinished sign-in in this browser
            return super().form_valid(form)
        pending_start(self.request, user)
        return second_step_redirect(user, self.get_redirect_url())


def _context(site, request, **extra) -> dict:
    return {**site.each_context(request), "next": _next_url(request), **extra}


def _locked_out(request: HttpRequest, user) -> HttpResponse | None:
    credentials = {"username": user.get_username()}
    if AxesProxyHandler.is_locked(request, credentials):
        pending_clear(request)
        return get_lockout_response(request, None, credentials)
    return None


def code_step(request: HttpRequest, *, site) -> HttpResponse:
    user = second_step_user(request)
    if user is None:
        if request.user.is_authenticated:  # already verified
            return HttpResponseRedirect(_next_url(request))
        return HttpResponseRedirect(_with_next(reverse("admin:login"), _next_url(request)))
    if not user_has_device(user, confirmed=True):
        return HttpResponseRedirect(_with_next(reverse("admin:console_2fa_enrol"), _next_url(request)))
    status = 200
    form = CodeForm()
    if request.method == "POST":
        if (lockout := _locked_out(request, user)) is not None:
            return lockout
        form = CodeForm(request.POST)
        status = 400
        if form.is_valid():
            device, refusal, guessed = code_check(user=user, code=form.cleaned_data["code"])
            if device is not None:
                sign_in_finish(request, user, device)
                return HttpResponseRedirect(_next_url(request))
            form.add_error("code", refusal)
            if guessed:
                # A wrong code is a failed login for axes (username and address), like a wrong password;
                # at the limit it sets request.axes_locked_out and AxesMiddleware answers with the lockout.
                user_login_failed.send(sender=__name__, credentials={"username": user.get_username()},
                                       request=request)
                if getattr(request, "axes_locked_out", False):
                    pending_clear(request)
    context = _context(site, request, title="Two-factor sign-in", form=form, signing_in_as=user.get_username())
    return TemplateResponse(request, "admin/console/twofactor_code.html", context, status=status)


def enrol_step(request: HttpRequest, *, site) -> HttpResponse:
    verified = request.user.is_authenticated and _is_verified(request.user)
    user = request.user if verified else second_step_user(request)
    if user is None:
        return HttpResponseRedirect(_with_next(reverse("admin:login"), _next_url(request)))
    if not verified and user_has_device(user, confirmed=True):
        # Someone holding only the password must not replace the owner's authenticator.
        return HttpResponseRedirect(_with_next(reverse("admin:console_2fa_code"), _next_url(request)))
    device = enrol_device(request, user)
    status = 200
    form = CodeForm()
    if request.method == "POST":
        if (lockout := _locked_out(request, user)) is not None:
            return lockout
        form = CodeForm(request.POST)
        status = 400
        if form.is_valid():
            allowed, details = device.verify_is_allowed()
            if not allowed:
                form.add_error("code", "Too many wrong codes in a row: wait a few seconds before the next try.")
            elif device.verify_token("".join(form.cleaned_data["code"].split())):
                codes = totp_enrol_confirm(user=user, device=device)
                sign_in_finish(request, user, device)
                request.session[NEW_CODES_KEY] = codes
                return HttpResponseRedirect(_with_next(reverse("admin:console_2fa_codes"), _next_url(request)))
            else:
                form.add_error("code", "That code is not right: scan the QR code (or type the secret) into your "
                                       "authenticator app and enter the 6-digit code it shows now.")
    context = _context(site, request, title="Set up two-factor sign-in", form=form, qr_svg=qr_svg(device),
                       secret=secret_text(device), signing_in_as=user.get_username(), replacing=verified
                       and user_has_device(user, confirmed=True))
    return TemplateResponse(request, "admin/console/twofactor_enrol.html", context, status=status)


def new_codes_page(request: HttpRequest, *, site) -> HttpResponse:
    """The backup codes just issued, shown once (a reload finds them gone from the session)."""
    codes = request.session.pop(NEW_CODES_KEY, None)
    if not codes:
        return HttpResponseRedirect(reverse("admin:console_2fa"))
    context = _context(site, request, title="Your backup codes", codes=codes)
    return TemplateResponse(request, "admin/console/twofactor_codes.html", context)


def account_page(request: HttpRequest, *, site) -> HttpResponse:
    user = request.user
    totp = list(_confirmed(TOTPDevice, user))
    backup = _confirmed(StaticDevice, user).first()
    context = _context(site, request, title="Two-factor sign-in", required=second_factor_required(user),
                       verified=_is_verified(user), authenticators=totp, backup=backup,
                       codes_left=backup.token_set.count() if backup else 0)
    return TemplateResponse(request, "admin/console/twofactor_account.html", context)


def new_codes(request: HttpRequest, *, site) -> HttpResponse:
    # Only a session that passed the second factor may replace the backup codes.
    if not _is_verified(request.user):
        raise PermissionDenied
    request.session[NEW_CODES_KEY] = backup_codes_regenerate(user=request.user)
    return HttpResponseRedirect(reverse("admin:console_2fa_codes"))


# --- The devices in the admin --------------------------------------------------------------------

class DeviceAdminRules:
    """Mixed into the device admins django-otp's plugins register (see ConsoleAdminSite.register):
    devices are added only by their owner, through enrolment; nobody edits one (reassigning a device
    is adding one for someone else); superusers may delete one (a lost phone: its owner enrols
    again). Secrets stay out of the admin: no key field, no QR code page, no backup codes."""

    SENSITIVE_FIELDS = ("key", "qrcode_link")

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_urls(self):
        from django.contrib.admin import ModelAdmin

        return ModelAdmin.get_urls(self)  # without the plugins' QR code and config pages

    def get_list_display(self, request):
        return [name for name in self.list_display if name not in self.SENSITIVE_FIELDS]

    def get_fieldsets(self, request, obj=None):
        return [(name, {**options, "fields": [f for f in options["fields"] if f not in self.SENSITIVE_FIELDS]})
                for name, options in super().get_fieldsets(request, obj)]

    def get_inline_instances(self, request, obj=None):
        return []
