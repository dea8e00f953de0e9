"""Barchart events API: POST /events, catalog validation, service endpoints."""

import base64
import hashlib
import json
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from events.catalog import catalog_cache_clear, catalog_import
from events.models import CatalogEventType, DataSource, Event
from reports.models import ReportUser
from tests.logins import console_login

pytestmark = pytest.mark.django_db
SPEC_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "barchart-event-types.json"
SMALL_CATALOG = {
    "customers": [{"code": "BARCHART"}, {"code": "TGAM"}],
    "products": [{"code": "WATCHLIST"}, {"code": "PORTFOLIO"}],
    "eventTypes": [
        {"code": "WATCHLIST-SYMBOL-ADDED", "product": "WATCHLIST", "contextKeys": ["userId", "watchlistId", "symbol"],
         "contextRules": {"TGAM": ["string", "uuid", "string"]}},
        {"code": "PORTFOLIO-APPLICATION-LOADED", "product": "PORTFOLIO", "contextKeys": ["userId", "source"],
         "contextRules": {"TGAM": ["string", "stringOptional"]}},
    ],
}


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    catalog_cache_clear()
    yield
    catalog_cache_clear()


def event(**overrides):
    base = {"customer": "BARCHART", "product": "WATCHLIST", "type": "WATCHLIST-SYMBOL-ADDED",
            "timestamp": 1795503600000, "context": ["u-1", str(uuid.UUID(int=1)), "AAPL"], "version": "6.0.0"}
    base.update(overrides)
    return base


def post(client, events, token=None, raw=None):
    headers = {"X-KSense-Tok": token} if token else {}
    body = raw if raw is not None else json.dumps({"events": events})
    return client.post("/events", body, content_type="application/json", headers=headers)


def assert_failure(response, status, *fields):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body, list) and body[0]["value"]["code"] == "REQUEST_INPUT_MALFORMED"
    children = [child["value"] for child in body[0]["children"]]
    assert all(child["code"] == "REQUEST_PARAMETER_MALFORMED" for child in children)
    for field in fields:
        assert any(f'"{field}"' in child["message"] for child in children), (field, children)
    return children


def test_nesting_past_what_the_json_writer_takes_is_a_400_failure(client, ingest_token):
    client.raise_request_exception = False  # was an HTML 500 (orjson writes 255 levels); found by the property tests
    body = json.dumps({"events": [event(extra="HOLE")]}).replace('"HOLE"', "[" * 300 + "]" * 300)
    response = post(client, None, token=ingest_token.raw, raw=body)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()[0]["value"]["code"] == "REQUEST_INPUT_MALFORMED"
    assert "nested deeper" in response.json()[0]["value"]["message"]
    assert Event.objects.count() == 0


def test_it_stores_events_and_answers_event_full_in_order(client, ingest_token):
    events = [event(), event(type="WATCHLIST-SYMBOL-ADDED", context=["u-2", str(uuid.UUID(int=2)), "MSFT"])]
    response = post(client, events, token=ingest_token.raw)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert [list(item) for item in body] == [[*events[0], "batch", "sequence"]] * 2
    assert [item["sequence"] for item in body] == [0, 1]
    assert len({item["batch"] for item in body}) == 1
    uuid.UUID(body[0]["batch"])
    stored = list(Event.objects.order_by("sequence").values_list("customer", "product", "type", "batch"))
    assert stored == [("BARCHART", "WATCHLIST", "WATCHLIST-SYMBOL-ADDED", uuid.UUID(body[0]["batch"]))] * 2
    assert Event.objects.first().timestamp.isoformat() == "2026-11-24T07:00:00+00:00"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"customer": None}, "events[0].customer"),
        ({"customer": ""}, "events[0].customer"),
        ({"product": 5}, "events[0].product"),
        ({"type": ["x"]}, "events[0].type"),
        ({"timestamp": "1795503600000"}, "events[0].timestamp"),
        ({"timestamp": 1795503600}, "events[0].timestamp"),
        ({"timestamp": 1.5e12}, "events[0].timestamp"),
        ({"timestamp": True}, "events[0].timestamp"),
        ({"context": "u-1"}, "events[0].context"),
        ({"context": [1, 2]}, "events[0].context"),
        ({"version": 6}, "events[0].version"),
    ],
)
def test_it_rejects_each_malformed_field_and_stores_nothing(client, ingest_token, overrides, field):
    assert_failure(post(client, [event(), event(**overrides)], token=ingest_token.raw), 400, field.replace(
        "events[0]", "events[1]"))
    assert Event.objects.count() == 0


@pytest.mark.parametrize("missing", ["customer", "product", "type", "timestamp", "context"])
def test_every_required_field_is_required(client, ingest_token, missing):
    bad = event()
    del bad[missing]
    assert_failure(post(client, [bad], token=ingest_token.raw), 400, f"events[0].{missing}")
    assert Event.objects.count() == 0


def test_version_is_optional(client, ingest_token):
    bare = event()
    del bare["version"]
    assert post(client, [bare], token=ingest_token.raw).status_code == 200


def test_every_bad_field_is_listed(client, ingest_token):
    children = assert_failure(post(client, [event(customer=1, timestamp="x"), "nope"], token=ingest_token.raw), 400,
                              "events[0].customer", "events[0].timestamp", "events[1]")
    assert len(children) == 3


@pytest.mark.parametrize("raw", ['{"events": []}', '{"events": {}}', "[]", '{"nope": 1}', "{bad json"])
def test_it_rejects_malformed_bodies(client, ingest_token, raw):
    assert_failure(post(client, None, token=ingest_token.raw, raw=raw), 400)
    assert Event.objects.count() == 0


def test_without_credentials_it_needs_the_unauthenticated_datasource(client, datasource):
    response = post(client, [event()])
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response["Content-Type"] == "application/json"
    DataSource.objects.filter(pk=datasource.pk).update(accepts_unauthenticated_events=True)
    assert post(client, [event()]).status_code == 200
    assert Event.objects.get().datasource_id == datasource.pk


def test_only_one_datasource_may_accept_unauthenticated_events(datasource):
    DataSource.objects.filter(pk=datasource.pk).update(accepts_unauthenticated_events=True)
    with pytest.raises(IntegrityError):
        DataSource.objects.create(slug="second", accepts_unauthenticated_events=True)


def test_a_wrong_token_is_401_even_with_an_open_datasource(client, datasource):
    DataSource.objects.filter(pk=datasource.pk).update(accepts_unauthenticated_events=True)
    response = post(client, [event()], token="evs_wrong")
    assert response.status_code == 401 and response.json() == {"message": "Unauthorized"}
    assert Event.objects.count() == 0


def test_with_a_catalog_events_are_validated_and_user_id_is_an_identity(client, ingest_token):
    catalog_import(datasource=ingest_token.token.datasource, document=SMALL_CATALOG)
    good = [event(customer="TGAM"), event(customer="TGAM", product="PORTFOLIO", type="PORTFOLIO-APPLICATION-LOADED",
                                          context=["u-9"])]
    assert post(client, good, token=ingest_token.raw).status_code == 200
    digests = list(Event.objects.order_by("sequence").values_list("user_internal_id", flat=True))
    assert digests == [hashlib.sha256(b"u-1").hexdigest(), hashlib.sha256(b"u-9").hexdigest()]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"customer": "ACME"}, "customer"),
        ({"product": "ALERT"}, "product"),
        ({"type": "WATCHLIST-NOPE"}, "type"),
        ({"product": "PORTFOLIO"}, "type"),
        ({"context": ["u-1", str(uuid.UUID(int=1))]}, "context"),
        ({"context": ["u-1", str(uuid.UUID(int=1)), "AAPL", "extra"]}, "context"),
        ({"context": ["", str(uuid.UUID(int=1)), "AAPL"]}, "context[0]"),
        ({"context": ["u-1", "not-a-uuid", "AAPL"]}, "context[1]"),
    ],
)
def test_the_catalog_rejects_what_it_does_not_know(client, ingest_token, overrides, field):
    catalog_import(datasource=ingest_token.token.datasource, document=SMALL_CATALOG)
    response = post(client, [event(customer="TGAM", **{k: v for k, v in overrides.items() if k != "customer"})
                             if "customer" not in overrides else event(**overrides)], token=ingest_token.raw)
    assert_failure(response, 400, f"events[0].{field}")
    assert Event.objects.count() == 0


def test_rules_apply_per_customer(client, ingest_token):
    catalog_import(datasource=ingest_token.token.datasource, document=SMALL_CATALOG)
    # BARCHART has no rules for this type: any strings of the right length pass.
    assert post(client, [event(context=["", "x", ""])], token=ingest_token.raw).status_code == 200


def test_import_event_types_command_replaces_the_catalog(datasource, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(SMALL_CATALOG))
    out = StringIO()
    call_command("import_event_types", "web", str(path), stdout=out)
    call_command("import_event_types", "web", str(path), stdout=out)
    assert "2 event types" in out.getvalue()
    assert CatalogEventType.objects.filter(datasource=datasource).count() == 2


@pytest.mark.parametrize("content, message", [("{nope", "not valid JSON"), ('{"customers": 1}', "customers"),
                                              (json.dumps({**SMALL_CATALOG, "eventTypes": [
                                                  {**SMALL_CATALOG["eventTypes"][0], "contextRules": {
                                                      "TGAM": ["string"]}}]}), "one rule per context key")])
def test_import_event_types_refuses_a_bad_file(datasource, tmp_path, content, message):
    path = tmp_path / "catalog.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_event_types", "web", str(path), stdout=StringIO())
    assert CatalogEventType.objects.count() == 0


@pytest.mark.skipif(not SPEC_FILE.exists(), reason="the shared spec folder (../shared/spec) is not beside the repo")
def test_the_full_reference_catalog_imports_and_validates(client, ingest_token):
    out = StringIO()
    call_command("import_event_types", "web", str(SPEC_FILE), stdout=out)
    assert "220 event types" in out.getvalue()
    added = event(customer="TGAM", context=["u-1", str(uuid.uuid4()), "AAPL"])
    assert post(client, [added], token=ingest_token.raw).status_code == 200
    bad = event(customer="TGAM", context=["u-1", "nope", "AAPL"])
    assert_failure(post(client, [bad], token=ingest_token.raw), 400, "events[0].context[1]")


def basic(username, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.mark.parametrize("path", ["/service/version", "/system/version"])
def test_service_version_describes_the_service(client, path):
    import eventsite

    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"service": {"version": eventsite.__version__, "name": "eventsite",
                                           "description": "System for collecting and reporting usage statistics",
                                           "environment": "embedded" if not __import__("os").environ.get(
                                               "DATABASE_URL") else "production"}}


def test_service_authenticate_answers_the_user_and_its_customer(client):
    user = User.objects.create_user("ann", password="long-enough-pass-1")
    ReportUser.objects.create(user=user, customer="TGAM")
    response = client.get("/service/authenticate", headers=basic("ann", "long-enough-pass-1"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["service", "user"]
    assert body["user"] == {"id": "ann", "context": "TGAM", "permissions": None}
    assert list(body["service"]) == ["version", "name", "description", "environment"]


@pytest.mark.parametrize("headers", [{}, basic("ann", "wrong"), basic("nobody", "x"),
                                     {"Authorization": "Basic !!!"}, {"Authorization": "Bearer x"}])
def test_service_authenticate_refuses_wrong_or_missing_credentials(client, headers):
    user = User.objects.create_user("ann", password="long-enough-pass-1")
    ReportUser.objects.create(user=user, customer="TGAM")
    response = client.get("/service/authenticate", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response["Content-Type"] == "application/json"


def test_staff_without_a_customer_may_act_for_any(client):
    User.objects.create_user("ops", password="long-enough-pass-1", is_staff=True)
    User.objects.create_user("plain", password="long-enough-pass-1")
    body = client.get("/service/authenticate", headers=basic("ops", "long-enough-pass-1")).json()
    assert body["user"]["context"] == "*"
    assert client.get("/service/authenticate", headers=basic("plain", "long-enough-pass-1")).status_code == 401


def test_create_report_user_command(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", StringIO("long-enough-pass-1\n"))
    call_command("create_report_user", "bob", "--customer", "TGAM", "--password-stdin", stderr=StringIO())
    assert User.objects.get(username="bob").report_profile.customer == "TGAM"
    call_command("create_report_user", "bob", "--customer", "BARCHART", "--keep-password", stderr=StringIO())
    user = User.objects.get(username="bob")
    assert user.report_profile.customer == "BARCHART" and user.check_password("long-enough-pass-1")
    monkeypatch.setattr("sys.stdin", StringIO("123\n"))
    with pytest.raises(CommandError):
        call_command("create_report_user", "carl", "--customer", "TGAM", "--password-stdin", stderr=StringIO())
    assert not User.objects.filter(username="carl").exists()


def test_a_catalog_with_bad_lines_lists_each_by_line_and_imports_nothing(datasource, tmp_path):
    call_command("import_event_types", "web", str(_write(tmp_path, json.dumps(SMALL_CATALOG))), stdout=StringIO())
    bad = json.dumps({**SMALL_CATALOG, "eventTypes": [
        SMALL_CATALOG["eventTypes"][0],
        {"code": "NO-PRODUCT", "product": "NOPE", "contextKeys": []},
        {"code": "BAD-RULE", "product": "WATCHLIST", "contextKeys": ["a"], "contextRules": {"TGAM": ["int"]}},
    ]}, indent=2)
    with pytest.raises(CommandError) as raised:
        call_command("import_event_types", "web", str(_write(tmp_path, bad)), stdout=StringIO())
    lines = bad.splitlines()
    no_product = next(n for n, line in enumerate(lines, 1) if '"NO-PRODUCT"' in line) - 1  # the object's "{" line
    assert f"line {no_product}: eventTypes[1] (NO-PRODUCT): product 'NOPE' is not in products" in str(raised.value)
    assert "eventTypes[2] (BAD-RULE): unknown rule 'int'" in str(raised.value)
    # All or nothing: the earlier catalog is untouched.
    assert sorted(CatalogEventType.objects.values_list("code", flat=True)) == [
        "PORTFOLIO-APPLICATION-LOADED", "WATCHLIST-SYMBOL-ADDED"]


def _write(tmp_path, text):
    path = tmp_path / f"catalog-{uuid.uuid4().hex}.json"
    path.write_text(text)
    return path


def test_the_admin_upload_imports_a_catalog_or_lists_its_problems(client, admin_user, datasource):
    from django.core.files.uploadedfile import SimpleUploadedFile

    console_login(client, admin_user)
    url = "/admin/events/catalogeventtype/upload/"
    good = SimpleUploadedFile("c.json", json.dumps(SMALL_CATALOG).encode())
    done = client.post(url, {"datasource": datasource.pk, "file": good}, follow=True)
    assert "Imported 2 customers, 2 products and 2 event types into web" in done.content.decode()
    broken = {**SMALL_CATALOG, "eventTypes": [{"code": "X", "product": "NOPE"}]}
    bad = SimpleUploadedFile("c.json", json.dumps(broken, indent=1).encode())
    refused = client.post(url, {"datasource": datasource.pk, "file": bad})
    assert refused.status_code == 200
    assert "line 19: eventTypes[0] (X): product &#x27;NOPE&#x27; is not in products" in refused.content.decode()
    assert CatalogEventType.objects.filter(datasource=datasource).count() == 2
