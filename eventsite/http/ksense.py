"""kSense Server API v2: POST /api/v2/events/post_event (purges live in eventsite/http/purge.py)."""

from django.http import HttpRequest
from django.utils import timezone

from events.parsing import IngestLimits, ksense_rows
from events.services import events_ingest
from eventsite.http.auth import authenticate_request
from eventsite.http.common import api_view, json_response, read_json
from eventsite.lib.errors import DomainError
from tokens.models import Scope


def ksense_error(error: DomainError) -> dict:
    return {"status": "ERROR", "message": error.message}


@api_view(methods=("POST",), render_error=ksense_error)
def post_event(request: HttpRequest):
    token = authenticate_request(request, scope=Scope.INGEST)
    document = read_json(request)
    now = timezone.now()
    rows = ksense_rows(document, limits=IngestLimits.from_settings(), now=now)
    events_ingest(datasource=token.datasource, rows=rows, received_at=now)
    return json_response({"status": "OK"})
