"""Jitsu endpoints: body forms, identities, server-assigned ids, CORS."""

import hashlib
import json

import pytest

from events.models import DataSource, Event

pytestmark = pytest.mark.django_db


def post(client, path, body, token, content_type="application/json", origin=None):
    headers = {"Origin": origin} if origin else {}
    return client.post(f"{path}?token={token}", json.dumps(body), content_type=content_type, headers=headers)


def jitsu_event(**overrides):
    event = {"event_id": "", "event_type": "pv", "utc_time": "2026-11-24T07:00:00.000000Z", "src": "jitsu",
             "api_key": "will-not-be-stored", "user": {"anonymous_id": "anon-1", "id": 42, "email": "A@B.com"}}
    event.update(overrides)
    return event


@pytest.mark.parametrize("path", ["/api/v1/event", "/api/v1/s2s/event"])
def test_it_stores_one_event_with_identities_and_an_assigned_id(client, ingest_token, path):
    response = post(client, path, jitsu_event(), ingest_token.raw)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    event = Event.objects.get()
    assert event.type == "pv" and len(event.event_id) == 32
    assert event.user_anonymous_id == hashlib.sha256(b"anon-1").hexdigest()
    assert event.user_internal_id == hashlib.sha256(b"42").hexdigest()
    assert event.user_email == hashlib.sha256(b"a@b.com").hexdigest()
    assert "api_key" not in event.payload
    assert event.timestamp.isoformat() == "2026-11-24T07:00:00+00:00"


def test_it_takes_an_array_as_text_plain_from_send_beacon(client, ingest_token):
    body = [jitsu_event(event_id="b1"), jitsu_event(event_id="b2")]
    response = post(client, "/api/v1/event", body, ingest_token.raw, content_type="text/plain;charset=UTF-8")
    assert response.status_code == 200
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["b1", "b2"]


def test_it_reads_the_eventn_ctx_compat_shape(client, ingest_token):
    body = {"event_type": "pv", "eventn_ctx": {"event_id": "c1", "user": {"anonymous_id": "z"}}}
    assert post(client, "/api/v1/event", body, ingest_token.raw).status_code == 200
    assert Event.objects.get().event_id == "c1"


@pytest.mark.parametrize("body", [{"user": "x"}, {"utc_time": "soon"}, {"event_type": 5}, []])
def test_bad_events_are_400_and_store_nothing(client, ingest_token, body):
    response = post(client, "/api/v1/s2s/event", body, ingest_token.raw)
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert Event.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/v1/event", "/api/v1/s2s/event"])
@pytest.mark.parametrize("value", ["²", "1" * 5000, "١٢٣"], ids=["superscript-two", "5000-digits", "arabic-indic"])
def test_times_of_non_ascii_or_thousands_of_digits_are_400_json(client, ingest_token, path, value):
    client.raise_request_exception = False  # an HTML 500 before the fix: see what the browser SDK gets
    response = post(client, path, jitsu_event(utc_time=value), ingest_token.raw)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == "error" and "event[0].utc_time" in response.json()["message"]
    assert Event.objects.count() == 0


def test_nesting_past_what_the_json_writer_takes_is_400_json(client, ingest_token):
    client.raise_request_exception = False  # was an HTML 500 (orjson writes 255 levels); found by the property tests
    body = '{"event_type": "pv", "extra": ' + "{\"k\": " * 300 + "1" + "}" * 300 + "}"
    response = client.post(f"/api/v1/event?token={ingest_token.raw}", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": "event[0] is nested deeper than 32 levels"}
    assert Event.objects.count() == 0


def test_a_wrong_token_is_401(client, datasource):
    assert post(client, "/api/v1/event", jitsu_event(), "evs_wrong").status_code == 401
    assert Event.objects.count() == 0


def test_cors_preflight_and_post_for_an_allowed_origin(client, ingest_token):
    DataSource.objects.filter(pk=ingest_token.token.datasource_id).update(
        allowed_origins="https://shop.example.com\nhttps://www.example.com/")
    preflight = client.options(f"/api/v1/event?token={ingest_token.raw}",
                               headers={"Origin": "https://www.example.com", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    response = post(client, "/api/v1/event", jitsu_event(), ingest_token.raw, origin="https://shop.example.com")
    assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert Event.objects.count() == 1


def test_other_origins_get_no_cors_headers(client, ingest_token):
    DataSource.objects.filter(pk=ingest_token.token.datasource_id).update(allowed_origins="https://shop.example.com")
    preflight = client.options(f"/api/v1/event?token={ingest_token.raw}", headers={"Origin": "https://evil.example"})
    assert preflight.status_code == 204
    assert "Access-Control-Allow-Origin" not in preflight
    response = post(client, "/api/v1/event", jitsu_event(), ingest_token.raw, origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response
    assert response["Vary"] == "Origin"
