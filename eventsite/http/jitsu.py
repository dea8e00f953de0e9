"""Jitsu (EventNative) API, the kSense successor: POST /api/v1/event (browser) and
POST /api/v1/s2s/event (server), token in ?token=. Bodies are JSON or, from sendBeacon,
text/plain. Browsers get CORS headers only for the datasource's allowed origins.
"""

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from events.models import DataSource
from events.parsing import IngestLimits, jitsu_rows
from events.services import events_ingest
from eventsite.http.auth import TOKEN_SCHEMES, authenticate_request
from eventsite.http.common import JSON_VIEW_ERRORS, Answer, Operation, api_view, json_response, read_json, ref
from eventsite.lib.errors import DomainError
from tokens.models import Scope

METHODS = ("POST", "OPTIONS")
CORS_HEADERS = {"Access-Control-Allow-Origin": {"description": "Present for an allowed Origin.",
                                                "schema": {"type": "string"}}}
PREFLIGHT = Operation(
    summary="CORS preflight: the token in ?token= names the datasource and its allowed origins.",
    tag="Jitsu",
    auth=TOKEN_SCHEMES,
    answer=Answer("Preflight answer (CORS headers for allowed origins only).", status=204, headers=CORS_HEADERS),
    errors=(401, 403, 429, 503),
)


def _operations(summary: str) -> dict[str, Operation]:
    post = Operation(
        summary=summary,
        tag="Jitsu",
        auth=TOKEN_SCHEMES,
        body={"application/json": ref("JitsuEvents"),
              "text/plain": {"type": "string", "description": "JSON text (sendBeacon)."}},
        answer=Answer("Stored.", ref("JitsuOK"), headers=CORS_HEADERS),
        errors=JSON_VIEW_ERRORS,
    )
    return {"POST": post, "OPTIONS": PREFLIGHT}


def jitsu_error(error: DomainError) -> dict:
    return {"status": "error", "message": error.message}


def allowed_origin(datasource: DataSource, origin: str | None) -> str | None:
    if not origin:
        return None
    allowed = {line.strip().rstrip("/") for line in datasource.allowed_origins.splitlines() if line.strip()}
    return origin if origin.rstrip("/") in allowed or "*" in allowed else None


def _with_cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    response["Vary"] = "Origin"
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, X-KSense-Tok, Authorization"
        response["Access-Control-Max-Age"] = "86400"
    return response


def _handle(request: HttpRequest) -> HttpResponse:
    # The preflight carries no credentials but the SDK puts the key in the URL (?token=),
    # so the datasource, and with it the allowed origins, is known before the POST.
    token = authenticate_request(request, scope=Scope.INGEST)
    origin = allowed_origin(token.datasource, request.headers.get("Origin"))
    if request.method == "OPTIONS":
        return _with_cors(HttpResponse(status=204), origin)
    now = timezone.now()
    rows = jitsu_rows(read_json(request), limits=IngestLimits.from_settings(), now=now)
    events_ingest(datasource=token.datasource, rows=rows, received_at=now)
    return _with_cors(json_response({"status": "ok"}), origin)


@api_view(methods=METHODS, render_error=jitsu_error,
          operation=_operations("Jitsu browser events (JSON or text/plain)."))
def browser_event(request: HttpRequest):
    return _handle(request)


@api_view(methods=METHODS, render_error=jitsu_error, operation=_operations("Jitsu server-to-server events."))
def server_event(request: HttpRequest):
    return _handle(request)
