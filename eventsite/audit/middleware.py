"""Who acts in the console and the management API, for the audit of staff actions."""

from django.urls import reverse

from eventsite.audit.models import Via
from eventsite.lib.context import acting_request, acting_via


class StaffActorMiddleware:
    """After authentication: marks the request as the console's (admin pages) or the API's, and
    keeps it in eventsite.lib.context so the recorder reads its user when a row is written (the
    management API authenticates later, inside the view)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.console_prefix = reverse("admin:index")

    def __call__(self, request):
        via = Via.CONSOLE if request.path_info.startswith(self.console_prefix) else Via.API
        via_token, request_token = acting_via.set(via), acting_request.set(request)
        try:
            return self.get_response(request)
        finally:
            acting_via.reset(via_token)
            acting_request.reset(request_token)
