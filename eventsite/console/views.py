"""Console pages outside the admin site's own views."""

from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_safe

FAVICON = Path(__file__).resolve().parent / "static" / "console" / "favicon.ico"


@require_safe
def favicon(request):
    # Browsers ask for /favicon.ico on every page whatever the HTML says; answer it instead of a 404.
    response = HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
