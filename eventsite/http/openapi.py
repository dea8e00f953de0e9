"""OpenAPI descriptions of the compatible API families (kSense, Barchart, Jitsu) and their schemas.

Those endpoints are plain Django views (ingest is the hot path, see eventsite/http/common.py), so
drf-spectacular cannot introspect them. Each view declares its operation where it is defined
(`api_view(operation=Operation(...))`); the `compat_api_paths` postprocessing hook walks the URL
resolver and renders every such view at its route, with the error schema of the view's error
renderer. The body and answer schemas are written here by hand, from the real constants and limits.
The management API (DRF) is introspected; `manage_error_responses` (a postprocessing hook) adds the
error answers DRF gives on every operation.
tests/test_openapi.py checks that every URL pattern appears here; tests/test_fuzz_api.py fuzzes
a live server against this schema.
"""

import re
from copy import deepcopy

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from drf_spectacular.plumbing import ResolvedComponent

from events.models import IDENTITY_TYPES
from events.parsing import MAX_EVENT_ID_LENGTH
from eventsite.http.auth import SECURITY_SCHEMES
from eventsite.http.barchart import ANY_CUSTOMER
from eventsite.http.barchart_format import barchart_error
from eventsite.http.common import Operation, Param, ref
from eventsite.http.jitsu import jitsu_error
from eventsite.http.ksense import ksense_error
from reports.models import ReportJob


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
    413: f"The body (INGEST_MAX_BODY_BYTES: {settings.INGEST_MAX_BODY_BYTES}), one event (INGEST_MAX_EVENT_BYTES: "
         f"{settings.INGEST_MAX_EVENT_BYTES}) or the number of events (INGEST_MAX_EVENTS: "
         f"{settings.INGEST_MAX_EVENTS}) exceeds the ingest limits.",
    415: "The body is not JSON.",
    429: "Too many failed authentications from this address; retry after Retry-After.",
    503: "The database (or task queue) is unavailable; nothing was stored, retry after Retry-After.",
}

DEFAULT_DELIMITER = ReportJob._meta.get_field("delimiter").default
EVENT_ID = {"type": "string", "maxLength": MAX_EVENT_ID_LENGTH}

# Each error renderer's body schema (its 401 may differ: Barchart's {"message": "Unauthorized"}).
ERROR_SCHEMAS = {
    ksense_error: (ref("KSenseError"), {}),
    jitsu_error: (ref("JitsuError"), {}),
    barchart_error: (ref("BarchartFailure"), {401: ref("BarchartUnauthorized")}),
}


def _events(item: dict) -> dict:
    """A batch of events: the ingest limit on their number."""
    return {"type": "array", "minItems": 1, "maxItems": settings.INGEST_MAX_EVENTS, "items": item}


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
            "event_id": {**EVENT_ID, "description": "Re-posting an event_id replaces it."},
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
        "description": f"One event, or a non-empty array of at most INGEST_MAX_EVENTS "
                       f"({settings.INGEST_MAX_EVENTS:,}) events.",
        "oneOf": [
            ref("KSenseEvent"),
            _events(ref("KSenseEvent")),
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
            "event_id": {**EVENT_ID, "description": "Empty: the server assigns one."},
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
        "oneOf": [ref("JitsuEvent"), _events(ref("JitsuEvent"))],
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
            "value": ref("BarchartFailureValue"),
            "children": {"type": "array", "items": ref("BarchartFailureChild")},
        },
    },
    "BarchartFailure": {
        "type": "array",
        "description": "Barchart's failure array: each node names an error, its children the fields.",
        "items": {
            "type": "object",
            "required": ["value", "children"],
            "properties": {
                "value": ref("BarchartFailureValue"),
                "children": {"type": "array", "items": ref("BarchartFailureChild")},
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
        "properties": {"events": _events(ref("BarchartEvent"))},
    },
    "BarchartStoredEvent": {
        "allOf": [
            ref("BarchartEvent"),
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
        "properties": {"service": ref("ServiceDescription")},
    },
    "ServiceAuthenticate": {
        "type": "object",
        "required": ["service", "user"],
        "properties": {
            "service": ref("ServiceDescription"),
            "user": {
                "type": "object",
                "required": ["id", "context", "permissions"],
                "properties": {
                    "id": {"type": "string"},
                    "context": {"type": "string", "description": f"The user's customer, or {ANY_CUSTOMER} for staff."},
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
            "filter": ref("ReportFilter"),
            "output": {"type": "object", "properties": {
                "delimiter": {"type": "string", "default": DEFAULT_DELIMITER,
                              "description": "One ASCII character other than a quote, a line break, a backslash "
                                             "or NUL."},
                "raw": {"type": "boolean", "default": False,
                        "description": "Keep values starting with = + - @ tab or CR as they arrived; by default "
                                       "such cells are prefixed with ' and every text cell is quoted (OWASP CSV "
                                       "injection)."},
            }},
        },
    },
    "ReportStatus": {
        "type": "object",
        "required": ["job", "source", "status", "filter", "timing", "output"],
        "properties": {
            "job": {"type": "string"},
            "source": {"type": "string"},
            "status": {"type": "string", "enum": ReportJob.Status.values},
            "filter": ref("ReportFilter"),
            "timing": {
                "type": "object",
                "required": ["day", "start"],
                "properties": {"day": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"}},
            },
            "output": {"type": "object", "required": ["delimiter"],
                       "properties": {"delimiter": {"type": "string"}, "raw": {"type": "boolean"}}},
        },
    },
    "ReportLink": {
        "type": "object",
        "required": ["link"],
        "properties": {"link": {"type": "string",
                                "description": f"Valid REPORT_LINK_SECONDS ({settings.REPORT_LINK_SECONDS})."}},
    },
}


def _errors(render_error, codes: tuple[int, ...]) -> dict:
    schema, overrides = ERROR_SCHEMAS[render_error]
    responses = {}
    for code in codes:
        headers = RETRY_AFTER if code in (429, 503) else ALLOW if code == 405 else None
        response = {"description": ERROR_MEANINGS[code], "content": _json(overrides.get(code, schema))}
        if headers:
            response["headers"] = headers
        responses[str(code)] = response
    return responses


def _param(param: Param, *, required: bool) -> dict:
    schema = {"type": "string", **({"enum": list(param.enum)} if param.enum else {})}
    described = {"description": param.description} if param.description else {}
    return {"name": param.name, "in": "query", "required": required, **described, "schema": schema}


def _path_param(name: str, converter, operation: Operation) -> dict:
    described = {"description": operation.path_params[name]} if name in (operation.path_params or {}) else {}
    schema = {"type": "integer"} if isinstance(converter, IntConverter) else {"type": "string"}
    return {"name": name, "in": "path", "required": True, **described, "schema": schema}


def _operation(view, method: str, operation: Operation, *, url_name: str, converters: dict) -> dict:
    """One view's declared operation for one method, as OpenAPI."""
    operation_id = operation.operation_id or url_name.replace("-", "_")
    answer = operation.answer
    success = {"description": answer.description}
    if answer.headers:
        success["headers"] = answer.headers
    if answer.schema is not None:
        success["content"] = {answer.media_type: {"schema": answer.schema}}
    rendered = {
        "operationId": f"{operation_id}_{method.lower()}" if len(view.operations) > 1 else operation_id,
        "summary": operation.summary,
        **({"description": operation.description} if operation.description else {}),
        "tags": [operation.tag],
        "security": ([{}] if operation.anonymous or not operation.auth else [])
        + [{scheme: []} for scheme in operation.auth],
        "responses": {str(answer.status): success, **_errors(view.render_error, operation.errors)},
    }
    form = operation.form_on_post and method == "POST"
    parameters = [_path_param(name, converter, operation) for name, converter in converters.items()]
    # A form body may carry the query parameters instead, so none of them is required in the query string.
    parameters += [_param(param, required=param.required and not form) for param in operation.params]
    if parameters:
        rendered["parameters"] = parameters
    if form:
        properties = {param.name: _param(param, required=False)["schema"] for param in operation.params}
        rendered["requestBody"] = {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": properties}}},
        }
    elif operation.body:
        rendered["requestBody"] = {
            "required": True,
            "content": {media_type: {"schema": schema} for media_type, schema in operation.body.items()},
        }
    return rendered


def _described_views(patterns, prefix: str = "", converters: dict | None = None):
    """(OpenAPI path, view, URL name, path converters) of every route to a view declared with api_view."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        route_converters = {**(converters or {}), **getattr(pattern.pattern, "converters", {})}
        if isinstance(pattern, URLResolver):
            yield from _described_views(pattern.url_patterns, route, route_converters)
        elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "operations"):
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route), pattern.callback, pattern.name, route_converters


def compat_api_paths(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: add the compatible API families, each view at its route, to the schema."""
    paths = result.setdefault("paths", {})
    for path, view, url_name, converters in _described_views(get_resolver().url_patterns):
        # A copy: later hooks may edit the document, never the views' declarations.
        paths[path] = deepcopy({
            method.lower(): _operation(view, method, operation, url_name=url_name, converters=converters)
            for method, operation in view.operations.items()
        })
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

# The management API's error bodies (eventsite/http/manage/drf.py exception_handler and DRF's own).
MANAGE_ERROR = {
    "type": "object",
    "description": 'DRF errors: {"detail": ...} (with "code" for domain errors), or field -> messages.',
    "additionalProperties": True,
}
MANAGE_ERROR_CODES = {
    "400": "Invalid input.",
    "401": "Bad credentials.",
    "403": "Not staff, not authenticated, or without the Django permission the operation needs.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "415": "The body is not JSON.",
    "503": "The database is unavailable; retry after Retry-After.",
}



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
                    response = {"description": description, "content": _json(ref("ManageError"))}
                    if code == "503":
                        response["headers"] = deepcopy(RETRY_AFTER)
                    responses[code] = response
    return result
