"""OpenAPI descriptions of the compatible API families (kSense, Barchart, Jitsu).

Those endpoints are plain Django views (ingest is the hot path, see eventsite/http/common.py), so
drf-spectacular cannot introspect them: they are described here by hand, following what the
code does, and merged into the generated schema by the `compat_api_paths` postprocessing hook.
The management API (DRF) is introspected; `manage_error_responses`
(a postprocessing hook) adds the error answers DRF gives on every operation.
tests/test_openapi.py checks that every URL pattern appears here; tests/test_fuzz_api.py fuzzes
a live server against this schema.
"""

from copy import deepcopy

from drf_spectacular.plumbing import ResolvedComponent

IDENTITY_TYPES = ["email", "phone", "idfa", "gaid", "internal_id", "anonymous_id"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}
ALLOW = {"Allow": {"description": "The methods this path accepts.", "schema": {"type": "string"}}}

ERROR_MEANINGS = {
    400: "Invalid input (malformed JSON, NUL, bad field, missing parameter); nothing was stored.",
    401: "Missing, unknown, revoked or expired credentials.",
    403: "The credentials may not do this (wrong scope, another datasource or customer).",
    404: "No such report job (or not visible to this user).",
    405: "Method not allowed.",
    409: "The report is not available (still running, timed out, failed, link expired or invalid).",
    413: "The body, one event or the number of events exceeds the ingest limits.",
    415: "The body is not JSON.",
    429: "Too many failed authentications from this address; retry after Retry-After.",
    503: "The database (or task queue) is unavailable; nothing was stored, retry after Retry-After.",
}


def _errors(schema: dict, codes: tuple[int, ...], *, overrides: dict[int, dict] | None = None) -> dict:
    responses = {}
    for code in codes:
        headers = RETRY_AFTER if code in (429, 503) else ALLOW if code == 405 else None
        response = {"description": ERROR_MEANINGS[code], "content": _json((overrides or {}).get(code, schema))}
        if headers:
            response["headers"] = headers
        responses[str(code)] = response
    return responses


# Security requirements: any one of them authenticates (eventsite/http/auth.py token_from_request).
TOKEN_SECURITY = [{"ksenseTok": []}, {"tokenQuery": []}, {"tokQuery": []}, {"bearerAuth": []}]
BASIC_SECURITY = [{"basicAuth": []}]

KSENSE_ERRORS = (400, 401, 403, 405, 413, 415, 429, 503)
KSENSE_ERROR = _ref("KSenseError")
JITSU_ERROR = _ref("JitsuError")
BARCHART_FAILURE = _ref("BarchartFailure")
BARCHART_UNAUTHORIZED = {401: _ref("BarchartUnauthorized")}

SCHEMAS = {
    "KSenseOK": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["OK"]}},
    },
    "KSenseError": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {"status": {"type": "string", "enum": ["ERROR"]}, "message": {"type": "string"}},
    },
    "KSenseEvent": {
        "type": "object",
        "description": "One kSense event. Any other keys are kept in the stored payload.",
        "properties": {
            "event_id": {"type": "string", "maxLength": 256, "description": "Re-posting an event_id replaces it."},
            "type": {"type": "string"},
            "time_utc": {
                "description": "ISO 8601, or epoch seconds (< 1e11) / milliseconds; absent means now.",
                "oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}],
            },
            "user_id": {
                "type": "object",
                "description": "Identities, stored as SHA-256 of the normalised value.",
                "properties": {kind: {"type": "string"} for kind in IDENTITY_TYPES},
            },
            "user": {"type": "object", "properties": {"anonymous_id": {"type": "string"}}},
        },
        "additionalProperties": True,
    },
    "KSenseEvents": {
        "description": "One event, or a non-empty array of at most INGEST_MAX_EVENTS (1,000) events.",
        "oneOf": [
            _ref("KSenseEvent"),
            {"type": "array", "minItems": 1, "maxItems": 1000, "items": _ref("KSenseEvent")},
        ],
    },
    "JitsuOK": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
    "JitsuError": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {"status": {"type": "string", "enum": ["error"]}, "message": {"type": "string"}},
    },
    "JitsuEvent": {
        "type": "object",
        "description": "A Jitsu SDK event; identities from user.anonymous_id, user.id and user.email. "
                       "Other keys are kept in the stored payload; api_key is dropped.",
        "properties": {
            "event_id": {"type": "string", "maxLength": 256, "description": "Empty: the server assigns one."},
            "event_type": {"type": "string"},
            "utc_time": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}]},
            "user": {
                "type": "object",
                "properties": {"anonymous_id": {"type": "string"}, "id": {"type": "string"},
                               "email": {"type": "string"}},
            },
            "eventn_ctx": {"type": "object", "description": "Older SDKs nest the fields above here."},
        },
        "additionalProperties": True,
    },
    "JitsuEvents": {
        "oneOf": [_ref("JitsuEvent"), {"type": "array", "minItems": 1, "maxItems": 1000, "items": _ref("JitsuEvent")}],
    },
    "BarchartUnauthorized": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string", "enum": ["Unauthorized"]}},
    },
    "BarchartFailureValue": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "BarchartFailureChild": {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": _ref("BarchartFailureValue"),
            "children": {"type": "array", "items": _ref("BarchartFailureChild")},
        },
    },
    "BarchartFailure": {
        "type": "array",
        "description": "Barchart's failure array: each node names an error, its children the fields.",
        "items": {
            "type": "object",
            "required": ["value", "children"],
            "properties": {
                "value": _ref("BarchartFailureValue"),
                "children": {"type": "array", "items": _ref("BarchartFailureChild")},
            },
        },
    },
    "BarchartEvent": {
        "type": "object",
        "required": ["customer", "product", "type", "timestamp", "context"],
        "properties": {
            "customer": {"type": "string"},
            "product": {"type": "string"},
            "type": {"type": "string"},
            "timestamp": {"type": "integer", "description": "Milliseconds since the epoch."},
            "context": {"type": "array", "items": {}},
            "version": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "BarchartEventsRequest": {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _ref("BarchartEvent")}},
    },
    "BarchartStoredEvent": {
        "allOf": [
            _ref("BarchartEvent"),
            {
                "type": "object",
                "required": ["batch", "sequence"],
                "properties": {"batch": {"type": "string"}, "sequence": {"type": "integer"}},
            },
        ],
    },
    "ServiceDescription": {
        "type": "object",
        "required": ["version", "name", "description", "environment"],
        "properties": {
            "version": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "environment": {"type": "string"},
        },
    },
    "ServiceVersion": {
        "type": "object",
        "required": ["service"],
        "properties": {"service": _ref("ServiceDescription")},
    },
    "ServiceAuthenticate": {
        "type": "object",
        "required": ["service", "user"],
        "properties": {
            "service": _ref("ServiceDescription"),
            "user": {
                "type": "object",
                "required": ["id", "context", "permissions"],
                "properties": {
                    "id": {"type": "string"},
                    "context": {"type": "string", "description": "The user's customer, or * for staff."},
                    "permissions": {"nullable": True},
                },
            },
        },
    },
    "ReportFilter": {
        "type": "object",
        "required": ["customer", "product"],
        "properties": {
            "customer": {"type": "string"},
            "product": {"type": "string"},
            "types": {"type": "array", "items": {"type": "string"}},
            "start": {"type": "integer", "description": "Milliseconds since the epoch."},
            "end": {"type": "integer", "description": "Milliseconds since the epoch."},
        },
    },
    "ReportRequest": {
        "type": "object",
        "required": ["filter"],
        "properties": {
            "filter": _ref("ReportFilter"),
            "output": {"type": "object", "properties": {"delimiter": {"type": "string", "default": "|"}}},
        },
    },
    "ReportStatus": {
        "type": "object",
        "required": ["job", "source", "status", "filter", "timing", "output"],
        "properties": {
            "job": {"type": "string"},
            "source": {"type": "string"},
            "status": {"type": "string", "enum": ["RUNNING", "COMPLETE", "TIMEOUT", "FAILED"]},
            "filter": _ref("ReportFilter"),
            "timing": {
                "type": "object",
                "required": ["day", "start"],
                "properties": {"day": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"}},
            },
            "output": {"type": "object", "required": ["delimiter"], "properties": {"delimiter": {"type": "string"}}},
        },
    },
    "ReportLink": {
        "type": "object",
        "required": ["link"],
        "properties": {"link": {"type": "string", "description": "Valid REPORT_LINK_SECONDS (900)."}},
    },
}

SECURITY_SCHEMES = {
    "ksenseTok": {"type": "apiKey", "in": "header", "name": "X-KSense-Tok"},
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
    "tokQuery": {"type": "apiKey", "in": "query", "name": "tok"},
    "basicAuth": {"type": "http", "scheme": "basic"},
    "bearerAuth": {"type": "http", "scheme": "bearer"},
}


def _ksense_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _purge_operation(operation_id: str, summary: str, params: list[dict], method: str) -> dict:
    operation = {
        "operationId": f"{operation_id}_{method}",
        "summary": summary,
        "tags": ["kSense"],
        "security": TOKEN_SECURITY,
        "responses": {
            "200": {"description": "Purged.", "content": _json(_ref("KSenseOK"))},
            **_errors(KSENSE_ERROR, (400, 401, 403, 405, 429, 503)),
        },
    }
    if method == "post":
        # POST may carry the parameters as a form body instead of the query string.
        operation["parameters"] = [{**param, "required": False} for param in params]
        operation["requestBody"] = {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object",
                "properties": {param["name"]: param["schema"] for param in params},
            }}},
        }
    else:
        operation["parameters"] = params
    return operation


DS_PARAM = {"name": "ds", "in": "query", "required": True, "description": "The datasource slug (the token's).",
            "schema": {"type": "string"}}
PURGE_USER_PARAMS = [
    DS_PARAM,
    {"name": "user_id", "in": "query", "required": True, "schema": {"type": "string"}},
    {"name": "user_id_type", "in": "query", "required": True, "schema": {"type": "string", "enum": IDENTITY_TYPES}},
    {"name": "suppress", "in": "query", "required": False,
     "description": "1/true/yes: also drop this user's later events at ingest.", "schema": {"type": "string"}},
]

PURGE_USER_SUMMARY = "Delete every event of one user in the datasource (purge-scoped token)."
PURGE_DATASET_SUMMARY = "Hide every event of the datasource at once; rows are deleted in the background."

JITSU_SOURCE_PARAM = {"name": "token", "in": "query", "required": False,
                      "description": "An ingest token (the SDK's key).", "schema": {"type": "string"}}


def _jitsu_path(operation_id: str, summary: str) -> dict:
    responses_errors = _errors(JITSU_ERROR, KSENSE_ERRORS)
    cors = {"Access-Control-Allow-Origin": {"description": "Present for an allowed Origin.",
                                            "schema": {"type": "string"}}}
    return {
        "post": {
            "operationId": f"{operation_id}_post",
            "summary": summary,
            "tags": ["Jitsu"],
            "security": TOKEN_SECURITY,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _ref("JitsuEvents")},
                    "text/plain": {"schema": {"type": "string", "description": "JSON text (sendBeacon)."}},
                },
            },
            "responses": {
                "200": {"description": "Stored.", "headers": cors, "content": _json(_ref("JitsuOK"))},
                **responses_errors,
            },
        },
        "options": {
            "operationId": f"{operation_id}_options",
            "summary": "CORS preflight: the token in ?token= names the datasource and its allowed origins.",
            "tags": ["Jitsu"],
            "security": TOKEN_SECURITY,
            "responses": {
                "204": {"description": "Preflight answer (CORS headers for allowed origins only).", "headers": cors},
                **_errors(JITSU_ERROR, (401, 403, 429, 503)),
            },
        },
    }


def _barchart_errors(codes: tuple[int, ...]) -> dict:
    return _errors(BARCHART_FAILURE, codes, overrides=BARCHART_UNAUTHORIZED)


SOURCE_PARAM = {"name": "source", "in": "path", "required": True, "description": "The job's source (JOB-...).",
                "schema": {"type": "string"}}

PATHS = {
    "/api/v2/events/post_event": {
        "post": {
            "operationId": "ksense_post_event",
            "summary": "kSense Server API v2: store one event or an array (all-or-nothing).",
            "tags": ["kSense"],
            "security": TOKEN_SECURITY,
            "requestBody": _ksense_body(_ref("KSenseEvents")),
            "responses": {
                "200": {"description": "Stored (sent after the commit).", "content": _json(_ref("KSenseOK"))},
                **_errors(KSENSE_ERROR, KSENSE_ERRORS),
            },
        },
    },
    "/api/v2/insights/purge_user": {
        method: _purge_operation("ksense_purge_user", PURGE_USER_SUMMARY, PURGE_USER_PARAMS, method)
        for method in ("get", "post", "delete")
    },
    "/api/v2/insights/purge_dataset": {
        method: _purge_operation("ksense_purge_dataset", PURGE_DATASET_SUMMARY, [DS_PARAM], method)
        for method in ("get", "post", "delete")
    },
    "/api/v1/event": _jitsu_path("jitsu_event", "Jitsu browser events (JSON or text/plain)."),
    "/api/v1/s2s/event": _jitsu_path("jitsu_s2s_event", "Jitsu server-to-server events."),
    "/events": {
        "post": {
            "operationId": "barchart_post_events",
            "summary": "Barchart events API: store events; answers them back with batch and sequence.",
            "description": "No credentials are needed when one datasource accepts unauthenticated events.",
            "tags": ["Barchart"],
            "security": [{}, *TOKEN_SECURITY],
            "requestBody": _ksense_body(_ref("BarchartEventsRequest")),
            "responses": {
                "200": {"description": "Stored.",
                        "content": _json({"type": "array", "items": _ref("BarchartStoredEvent")})},
                **_barchart_errors((400, 401, 403, 405, 413, 415, 429, 503)),
            },
        },
    },
    **{
        path: {
            "get": {
                "operationId": f"barchart_{name}_version",
                "summary": "The service's name and version.",
                "tags": ["Barchart"],
                "security": [{}],
                "responses": {
                    "200": {"description": "The service.", "content": _json(_ref("ServiceVersion"))},
                    **_barchart_errors((405, 503)),
                },
            },
        }
        for path, name in (("/service/version", "service"), ("/system/version", "system"))
    },
    "/service/authenticate": {
        "get": {
            "operationId": "barchart_service_authenticate",
            "summary": "Check a report user's Basic credentials; answers the user's customer.",
            "tags": ["Barchart"],
            "security": BASIC_SECURITY,
            "responses": {
                "200": {"description": "Authenticated.", "content": _json(_ref("ServiceAuthenticate"))},
                **_barchart_errors((401, 405, 429, 503)),
            },
        },
    },
    "/reports": {
        "post": {
            "operationId": "barchart_create_report",
            "summary": "Start an asynchronous export (report user, HTTP Basic).",
            "tags": ["Reports"],
            "security": BASIC_SECURITY,
            "requestBody": _ksense_body(_ref("ReportRequest")),
            "responses": {
                "200": {"description": "The job, RUNNING.", "content": _json(_ref("ReportStatus"))},
                **_barchart_errors((400, 401, 403, 405, 413, 415, 429, 503)),
            },
        },
    },
    "/reports/{source}/availability": {
        "get": {
            "operationId": "barchart_report_availability",
            "summary": "The job's status: RUNNING, COMPLETE, TIMEOUT or FAILED.",
            "tags": ["Reports"],
            "security": BASIC_SECURITY,
            "parameters": [SOURCE_PARAM],
            "responses": {
                "200": {"description": "The job.", "content": _json(_ref("ReportStatus"))},
                **_barchart_errors((401, 404, 405, 429, 503)),
            },
        },
    },
    "/reports/{source}": {
        "get": {
            "operationId": "barchart_report_link",
            "summary": "A download link for a COMPLETE job.",
            "tags": ["Reports"],
            "security": BASIC_SECURITY,
            "parameters": [SOURCE_PARAM],
            "responses": {
                "200": {"description": "The link.", "content": _json(_ref("ReportLink"))},
                **_barchart_errors((401, 404, 405, 409, 429, 503)),
            },
        },
    },
    "/exports/{signed}": {
        "get": {
            "operationId": "report_download",
            "summary": "Download an export file (embedded storage); the signed link is the credential.",
            "tags": ["Reports"],
            "security": [{}],
            "parameters": [{"name": "signed", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "The file: a header line, then one line per event.",
                    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
                },
                **_barchart_errors((405, 409, 503)),
            },
        },
    },
}


# The management API's error bodies (eventsite/http/manage/drf.py exception_handler and DRF's own).
MANAGE_ERROR = {
    "type": "object",
    "description": 'DRF errors: {"detail": ...} (with "code" for domain errors), or field -> messages.',
    "additionalProperties": True,
}
MANAGE_ERROR_CODES = {
    "400": "Invalid input.",
    "401": "Bad credentials.",
    "403": "Not staff, or not authenticated.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "415": "The body is not JSON.",
    "503": "The database is unavailable; retry after Retry-After.",
}


def compat_api_paths(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: add the hand-described compatible API families to the schema."""
    result["paths"] = {**result.get("paths", {}), **deepcopy(PATHS)}
    # Registered, not only written into result: the enum hook that runs next rebuilds the
    # components from the generator's registry.
    for kind, entries in ((ResolvedComponent.SCHEMA, SCHEMAS), (ResolvedComponent.SECURITY_SCHEMA, SECURITY_SCHEMES)):
        for name, schema in entries.items():
            component = ResolvedComponent(name=name, type=kind, object=name, schema=deepcopy(schema))
            # Already known (basicAuth: the management API's own Basic scheme): keep that one.
            if component.key not in generator.registry._components:
                generator.registry.register(component)
    result["components"] = generator.registry.build({})
    return result


def manage_error_responses(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: add DRF's error answers to every management API operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["ManageError"] = MANAGE_ERROR
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/manage/"):
            continue
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for code, description in MANAGE_ERROR_CODES.items():
                if code not in responses:
                    response = {"description": description, "content": _json(_ref("ManageError"))}
                    if code == "503":
                        response["headers"] = deepcopy(RETRY_AFTER)
                    responses[code] = response
    return result
