"""The console's admin site: Django's admin with the overview as its first page, the health
panel, the locked-out admins and two-factor sign-in. Every `admin.site.register` of the apps lands
here (ConsoleAdminConfig makes it the default site). Views stay thin: they call overview, health,
lockouts and twofactor and render.

Two-factor sign-in (eventsite/console/twofactor.py): the login form is its password step, and
no admin page opens for a user who needs a second factor until the session is verified.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db.models.base import ModelBase
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.timesince import timesince
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from eventsite.console import health, lockouts, overview, twofactor


class ConsoleAdminSite(admin.AdminSite):
    index_template = "admin/console/overview.html"

    def has_permission(self, request):
        return super().has_permission(request) and twofactor.session_passes(request)

    def register(self, model_or_iterable, admin_class=None, **options):
        # django-otp's plugins register their device admins on the default site (this one) when the
        # admin autodiscovers them: they get the console's rules for devices (no adding, no editing,
        # superusers delete, no secrets shown).
        from django_otp.models import Device

        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else list(model_or_iterable)
        if admin_class is not None and models and all(issubclass(model, Device) for model in models):
            admin_class = type(admin_class.__name__, (twofactor.DeviceAdminRules, admin_class),
                               {"__module__": admin_class.__module__})
        return super().register(models, admin_class, **options)

    def get_urls(self):
        pending = [never_cache, login_not_required]  # the second step comes before the login
        return [
            # Not behind has_permission: a signed-in user waiting for the second step can still sign out.
            path("logout/", never_cache(self.logout), name="logout"),
            path("twofactor/code/", self._decorated(self.twofactor_code_view, *pending), name="console_2fa_code"),
            path("twofactor/enrol/", self._decorated(self.twofactor_enrol_view, *pending), name="console_2fa_enrol"),
            path("twofactor/", self.admin_view(self.twofactor_view), name="console_2fa"),
            path("twofactor/codes/", self.admin_view(self.twofactor_codes_view), name="console_2fa_codes"),
            path("twofactor/codes/new/", self.admin_view(require_POST(self.twofactor_new_codes_view)),
                 name="console_2fa_new_codes"),
            path("health/", self.admin_view(self.health_view), name="console_health"),
            path("lockouts/", self.admin_view(self.lockouts_view), name="console_lockouts"),
            path("lockouts/unlock/", self.admin_view(require_POST(self.unlock_view)), name="console_unlock"),
            *super().get_urls(),
        ]

    @staticmethod
    def _decorated(view, *decorators):
        for decorator in decorators:
            view = decorator(view)
        return view

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        """The password step (AdminSite.login with twofactor's login view)."""
        if request.user.is_authenticated and self._staff(request) and not twofactor.session_passes(request):
            return twofactor.second_step_redirect(request.user, request.GET.get(REDIRECT_FIELD_NAME, ""))
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return twofactor.PasswordStepView.as_view(
            extra_context=context, authentication_form=self.login_form or AdminAuthenticationForm,
            template_name=self.login_template or "admin/login.html",
        )(request)

    @staticmethod
    def _staff(request) -> bool:
        return request.user.is_active and request.user.is_staff

    def twofactor_code_view(self, request):
        return twofactor.code_step(request, site=self)

    def twofactor_enrol_view(self, request):
        return twofactor.enrol_step(request, site=self)

    def twofactor_view(self, request):
        return twofactor.account_page(request, site=self)

    def twofactor_codes_view(self, request):
        return twofactor.new_codes_page(request, site=self)

    def twofactor_new_codes_view(self, request):
        return twofactor.new_codes(request, site=self)

    def index(self, request, extra_context=None):
        now = timezone.now()
        figures = overview.overview_figures(now=now)
        alive = health.workers_alive(now=now)
        exporters = sum(1 for worker in alive if settings.EXPORTS_QUEUE in worker.queues)
        context = {
            "overview": figures,
            "chart": overview.hourly_chart_svg(values=figures.hourly_total, start=figures.chart_start),
            # Database rows only: the overview never waits for the broker or S3 (the health page does).
            "health_summary": [
                *health.worker_checks(now=now, alive=alive),
                health.last_task_check(now=now),
                health.oldest_running_report_check(now=now, export_workers=exporters),
                health.spool_check(now=now),
            ],
            "lockout_count": len(lockouts.lockouts_active(now=now)),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def health_view(self, request):
        context = {**self.each_context(request), "title": "Health", "checks": health.health_checks(),
                   "now": timezone.now()}
        return TemplateResponse(request, "admin/console/health.html", context)

    def lockouts_view(self, request):
        if not request.user.has_perm("axes.view_accessattempt"):
            raise PermissionDenied
        context = {**self.each_context(request), "title": "Locked-out admin logins",
                   "lockouts": lockouts.lockouts_active(), "limit": settings.AXES_FAILURE_LIMIT,
                   "cooloff": timesince(timezone.now() - settings.AXES_COOLOFF_TIME)}
        return TemplateResponse(request, "admin/console/lockouts.html", context)

    def unlock_view(self, request):
        # Unlocking deletes django-axes' attempt records: the same permission as deleting them in its admin.
        if not request.user.has_perm("axes.delete_accessattempt"):
            raise PermissionDenied
        username = request.POST.get("username", "")
        ip_address = request.POST.get("ip_address", "")
        if not (username or ip_address):
            messages.error(request, "Nothing to unlock: no username or address given.")
            return redirect("admin:console_lockouts")
        removed = lockouts.lockout_lift(username=username, ip_address=ip_address)
        messages.success(request, f"Unlocked {username or '(any user)'} from {ip_address or 'any address'} "
                                  f"({removed} failed-attempt record{'s' if removed != 1 else ''} removed).")
        return redirect("admin:console_lockouts")
