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


def issued_keep(*, request, obj, issued_row, raw: str, session_key: str) -> None:
    """After a service issued a credential from an admin add form: give the form's unsaved `obj`
    the issued row's values (the admin logs and redirects with it), and keep the raw value in this
    session only, for the issued page to show once (issued_pop)."""
    for field in type(issued_row)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(issued_row, field.attname))
    obj._state.adding = False
    pending = request.session.get(session_key, {})
    pending[str(issued_row.pk)] = raw
    request.session[session_key] = pending


def issued_pop(*, request, pk, session_key: str) -> str | None:
    """The raw value issued_keep kept for row `pk`, removed as it is read (None the second time,
    and in any other session)."""
    pending = request.session.get(session_key, {})
    raw = pending.pop(str(pk), None)
    if raw is not None:
        request.session[session_key] = pending
    return raw
