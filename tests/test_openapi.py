"""The OpenAPI description: valid OpenAPI 3, complete (every URL pattern), docs served from local assets."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from events.models import IDENTITY_TYPES
from events.parsing import MAX_EVENT_ID_LENGTH
from eventsite.http.common import Answer, Operation, api_view
from eventsite.http.ksense import ksense_error
from reports.models import ReportJob

pytestmark = pytest.mark.django_db

# Not public APIs, or the description itself.
EXCLUDED_PREFIXES = ("admin/", "api/schema/", "api/docs/", "static/", "favicon.ico")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _as_openapi_path(route: str) -> str | None:
    """A Django route (path() or the DRF router's regex) as an OpenAPI path; None for the router's
    API root and format-suffix variants, which are not separate operations."""
    route = route.replace("^", "").replace("$", "")
    if "format>" in route or route == "api/manage/":
        return None
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # DRF router regexes
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # path() converters
    return "/" + route.replace("{pk}", "{id}")  # drf-spectacular names a model's pk by its field


def _schema(client) -> dict:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_it_serves_a_valid_openapi_3_schema_without_login(client):
    schema = _schema(client)
    validate(schema)  # raises on an invalid OpenAPI document
    assert schema["openapi"].startswith("3.")
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ksenseTok"] == {"type": "apiKey", "in": "header", "name": "X-KSense-Tok"}
    assert schemes["tokenQuery"]["name"] == "token" and schemes["tokQuery"]["name"] == "tok"
    assert schemes["basicAuth"]["scheme"] == "basic" and schemes["bearerAuth"]["scheme"] == "bearer"
    purge_user = schema["paths"]["/api/v2/insights/purge_user"]
    assert set(purge_user) == {"get", "post", "delete"}
    kinds = next(p for p in purge_user["get"]["parameters"] if p["name"] == "user_id_type")["schema"]
    enum = kinds.get("enum") or schema["components"]["schemas"][kinds["$ref"].rsplit("/", 1)[1]]["enum"]
    assert enum == ["email", "phone", "idfa", "gaid", "internal_id", "anonymous_id"]


def test_it_describes_every_url_pattern_of_the_project(client):
    documented = set(_schema(client)["paths"])
    routes = [route for route in _walk(get_resolver().url_patterns) if not route.startswith(EXCLUDED_PREFIXES)]
    expected = {path for path in map(_as_openapi_path, routes) if path is not None}
    assert len(expected) >= 20  # the walk found the project's routes
    assert expected - documented == set()
    assert documented - expected == set()  # nothing described that does not exist


def test_it_describes_each_families_error_format(client):
    schema = _schema(client)
    paths = schema["paths"]
    refs = {
        "/api/v2/events/post_event": "KSenseError",
        "/api/v1/event": "JitsuError",
        "/reports": "BarchartFailure",
    }
    for path, component in refs.items():
        bad_request = paths[path]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
        assert bad_request == {"$ref": f"#/components/schemas/{component}"}
    unauthorized = paths["/events"]["post"]["responses"]["401"]["content"]["application/json"]["schema"]
    assert unauthorized == {"$ref": "#/components/schemas/BarchartUnauthorized"}
    assert "Retry-After" in paths["/api/v2/events/post_event"]["post"]["responses"]["503"]["headers"]
    assert "403" in paths["/api/manage/tokens/"]["post"]["responses"]


def test_it_serves_swagger_ui_from_local_static_files_only(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "/api/schema/" in html
    sources = re.findall(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']""", html)
    assert sources  # the page does load assets...
    assert all(not re.match(r"(?:https?:)?//", source) for source in sources), sources  # ...all local
    assert all(source.startswith("/static/") for source in sources), sources


def test_it_takes_the_limits_and_enums_from_the_code(client, settings):
    schemas = _schema(client)["components"]["schemas"]
    batches = [
        schemas["KSenseEvents"]["oneOf"][1],
        schemas["JitsuEvents"]["oneOf"][1],
        schemas["BarchartEventsRequest"]["properties"]["events"],
    ]
    assert [batch["maxItems"] for batch in batches] == [settings.INGEST_MAX_EVENTS] * 3
    assert schemas["KSenseEvent"]["properties"]["event_id"]["maxLength"] == MAX_EVENT_ID_LENGTH
    assert list(schemas["KSenseEvent"]["properties"]["user_id"]["properties"]) == list(IDENTITY_TYPES)
    status = schemas["ReportStatus"]["properties"]["status"]
    assert schemas[status["$ref"].rsplit("/", 1)[1]]["enum"] == ReportJob.Status.values
    assert str(settings.REPORT_LINK_SECONDS) in schemas["ReportLink"]["properties"]["link"]["description"]


def test_a_compat_view_must_describe_exactly_the_methods_it_serves():
    operation = Operation(summary="s", tag="t", answer=Answer("ok"), errors=(405,))
    with pytest.raises(ValueError, match="Describe exactly the methods"):
        api_view(methods=("GET", "POST"), render_error=ksense_error, operation={"GET": operation})
    view = api_view(methods=("GET",), render_error=ksense_error, operation=operation)(lambda request: None)
    assert view.operations == {"GET": operation} and view.render_error is ksense_error
