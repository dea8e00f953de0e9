"""Admin building blocks shared by the apps."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils import timezone


class ReadOnlyAdmin(admin.ModelAdmin):
    """A list and detail view only: rows come from services (ingest, purges, exports), never from a form."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionRightsAdmin(admin.ModelAdmin):
    """Admin actions that need a right answer 403 to a user without it. Django's admin drops such an
    action from the menu but answers a forged POST naming it with "No action selected" and a redirect:
    a refusal should say so."""

    def changelist_view(self, request, extra_context=None):
        name = request.POST.get("action", "") if request.method == "POST" else ""
        declared = {a if isinstance(a, str) else a.__name__ for a in self.actions or ()}
        if name in declared and name not in self.get_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)


class CredentialStatusFilter(admin.SimpleListFilter):
    """Active / revoked / expired, for any credential with `revoked_at` and `expires_at` (ingest
    tokens, personal API tokens)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at=None).exclude(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.exclude(revoked_at=None)
        if self.value() == "expired":
            return queryset.filter(revoked_at=None, expires_at__lte=now)
        return queryset
