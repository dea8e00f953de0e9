"""Admin building blocks shared by the apps."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied


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
