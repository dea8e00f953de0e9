"""Who may call what in the management API: active staff holding the Django permission of the
operation (eventsite/lib/access.py), the same rights the console checks; superusers hold all.

Kept apart from eventsite/http/manage/drf.py for the reason authentication.py is: DRF reads the
DEFAULT_PERMISSION_CLASSES while rest_framework.views is still loading.
"""

from rest_framework import permissions

VIEW = "%(app_label)s.view_%(model_name)s"


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """Reads need view_<model>, writes add/change/delete_<model>. A viewset names the rights of an
    operation that is more than a plain write in `action_permissions` ({action: [permission, ...]}):
    issuing a token is ISSUE_TOKEN, not add_token. A refusal is a 403 that names what is missing."""

    perms_map = {**permissions.DjangoModelPermissions.perms_map, "GET": [VIEW], "HEAD": [VIEW]}

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if getattr(view, request.method.lower(), None) is None:
            return True  # a method this endpoint does not have: DRF answers 405 (it changes nothing)
        required = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if required is None:
            queryset = getattr(view, "queryset", None)
            if queryset is None:
                # A view of no model (the router's root: links to the others) is read by any staff user.
                return request.method in permissions.SAFE_METHODS
            required = self.get_required_permissions(request.method, queryset.model)
        missing = [name for name in required if not user.has_perm(name)]
        if missing:
            # DRF makes a permission instance per request: the message is this request's own.
            self.message = f"This needs the permission {', '.join(missing)}."
            return False
        return True
