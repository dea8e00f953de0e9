"""kSense Server API v2: POST /api/v2/events/post_event (purges live in eventsite/http/purge.py)."""

from django.http import HttpRequest
from django.utils import timezone

from events.parsing import IngestLimits, ksense_rows
from events.services import events_ingest
from eventsite.http.auth import TOKEN_SCHEMES, authenticate_request
from eventsite.http.common import JSON_VIEW_ERRORS, Answer, Operation, api_view, json_response, read_json, ref
from eventsite.lib.errors import DomainError
from tokens.models import Scope


def ksense_error(error: DomainError) -> dict:
    return {"status": "ERROR", "message": error.message}


@api_view(methods=("POST",), render_error=ksense_error, operation=Operation(
    summary="kSense Server API v2: store one event or an array (all-or-nothing).",
    tag="kSense",
    auth=TOKEN_SCHEMES,
    body={"application/json": ref("KSenseEvents")},
    answer=Answer("Stored (sent after the commit).", ref("KSenseOK")),
    errors=JSON_VIEW_ERRORS,
))
def post_event(request: HttpRequest):
    token = authenticate_request(request, scope=Scope.INGEST)
    document = read_json(request)
    now = timezone.now()
    rows = ksense_rows(document, limits=IngestLimits.from_settings(), now=now)
    events_ingest(datasource=token.datasource, rows=rows, received_at=now)
    return json_response({"status": "OK"})
