"""POST /api/v2/events/post_event: every answer code, every bad input, and what is stored."""

import gzip
import hashlib
import json

import pytest

from events.models import Event
from tests.factories import make_datasource, make_token

URL = "/api/v2/events/post_event"


def post(client, body, *, token=None, content_type="application/json", query="", headers=None, raw=False):
    headers = dict(headers or {})
    if token is not None:
        headers["X-KSense-Tok"] = token
    data = body if raw else json.dumps(body)
    return client.post(URL + query, data, content_type=content_type, headers=headers)


def assert_ksense_error(response, status, *fragments):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "message"}
    assert body["status"] == "ERROR"
    for fragment in fragments:
        assert fragment in body["message"]
    return body


pytestmark = pytest.mark.django_db


def test_it_stores_a_batch_and_answers_ok(client, ingest_token):
    body = [
        {"event_id": "e1", "type": "pv", "time_utc": "2026-11-24T07:00:00Z", "user_id": {"email": "A@Example.com"}},
        {"type": "click"},
    ]
    response = post(client, body, token=ingest_token.raw)
    assert response.status_code == 200
    assert response.json() == {"status": "OK"}
    assert response["Content-Type"] == "application/json"
    stored = list(Event.objects.order_by("sequence").values_list("type", "event_id", "sequence"))
    assert stored == [("pv", "e1", 0), ("click", None, 1)]
    first = Event.objects.get(event_id="e1")
    assert first.payload == body[0]
    assert first.timestamp.isoformat() == "2026-11-24T07:00:00+00:00"
    assert first.user_email == hashlib.sha256(b"a@example.com").hexdigest()
    assert len({event.batch for event in Event.objects.all()}) == 1


def test_it_stores_a_single_event_object(client, ingest_token):
    response = post(client, {"type": "pv"}, token=ingest_token.raw)
    assert response.status_code == 200
    assert Event.objects.get().type == "pv"


@pytest.mark.parametrize("size", [1, 20, 21, 250])
def test_it_stores_batches_of_every_size_through_both_write_paths(client, ingest_token, size):
    body = [{"type": "pv", "event_data": {"n": n, "text": "tab\there\nnew \\ line"}} for n in range(size)]
    response = post(client, body, token=ingest_token.raw)
    assert response.status_code == 200
    stored = list(Event.objects.order_by("sequence").values_list("sequence", "payload"))
    assert [sequence for sequence, _ in stored] == list(range(size))
    assert [payload for _, payload in stored] == body


@pytest.mark.parametrize("how", ["header", "token", "tok", "bearer"])
def test_it_accepts_the_token_in_every_documented_place(client, ingest_token, how):
    kwargs = {}
    if how == "header":
        kwargs["token"] = ingest_token.raw
    elif how == "bearer":
        kwargs["headers"] = {"Authorization": f"Bearer {ingest_token.raw}"}
    else:
        kwargs["query"] = f"?{how}={ingest_token.raw}"
    response = post(client, {"type": "pv"}, **kwargs)
    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_it_rejects_a_request_without_a_token(client, datasource):
    assert_ksense_error(post(client, {"type": "pv"}), 401, "token")
    assert Event.objects.count() == 0


def test_it_rejects_an_unknown_token(client, datasource):
    assert_ksense_error(post(client, {"type": "pv"}, token="evs_nope"), 401)
    assert Event.objects.count() == 0


def test_it_rejects_a_revoked_token(client, ingest_token):
    from tokens.services import token_revoke

    assert post(client, {"type": "pv"}, token=ingest_token.raw).status_code == 200
    token_revoke(token=ingest_token.token)
    assert_ksense_error(post(client, {"type": "pv"}, token=ingest_token.raw), 401, "revoked")
    assert Event.objects.count() == 1


def test_it_rejects_an_expired_token(client, datasource):
    from datetime import timedelta

    from django.utils import timezone

    from tokens.cache import token_cache
    from tokens.models import Token

    issued = make_token(datasource=datasource, scope="ingest", expires_in_days=1)
    Token.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    token_cache.clear()
    assert_ksense_error(post(client, {"type": "pv"}, token=issued.raw), 401, "expired")
    assert Event.objects.count() == 0


def test_it_refuses_a_purge_token_with_403(client, purge_token):
    assert_ksense_error(post(client, {"type": "pv"}, token=purge_token.raw), 403, "scope")
    assert Event.objects.count() == 0


def test_it_refuses_get_with_405_json(client, ingest_token):
    response = client.get(URL, headers={"X-KSense-Tok": ingest_token.raw})
    assert_ksense_error(response, 405)
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(
    "raw_body, fragment",
    [
        (b"{not json", "not valid JSON"),
        (b'{"type": NaN}', "not valid JSON"),
        (b'{"type": Infinity}', "not valid JSON"),
        (b'{"type": "\xff\xfe"}', "not valid JSON"),
        (b'{"type": "\\ud800"}', "not valid JSON"),
        (b'{"type": "a\\u0000b"}', "NUL"),
        (b'{"event_data": {"k\\u0000": 1}}', "NUL"),
        (b'{"event_data": {"n": 123456789012345678901234567890}}', "64-bit"),
        (b'{"event_data": {"n": -9223372036854775809}}', "64-bit"),
        (b'{"event_data": {"n": 1e999}}', "not valid JSON"),
        (b"[]", "empty"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"42", "JSON object"),
        (b'["pv"]', "event[0] must be a JSON object"),
        (b'{"event_id": 12}', "event_id must be a string"),
        (b'{"type": ["pv"]}', "type must be a string"),
        (b'{"user_id": "someone"}', "User ID object"),
        (b'{"user_id": {"nickname": "x"}}', "not a User ID type"),
        (b'{"user_id": {"email": 5}}', "must be a string"),
        (b'{"user_id": {"email": "hash1:abc"}}', "64 hex"),
        (b'{"user_id": {"phone": "call me"}}', "no digits"),
        (b'{"labels": "x"}', "labels must be an array"),
        (b'{"device": []}', "device must be an object"),
    ],
)
def test_it_rejects_bad_input_with_400_and_stores_nothing(client, ingest_token, raw_body, fragment):
    response = post(client, raw_body, token=ingest_token.raw, raw=True)
    assert_ksense_error(response, 400, fragment)
    assert Event.objects.count() == 0


def test_it_rejects_nesting_deeper_than_the_limit(client, ingest_token, settings):
    deep = {"type": "pv", "event_data": {}}
    node = deep["event_data"]
    for _ in range(settings.INGEST_MAX_DEPTH):
        node["x"] = {}
        node = node["x"]
    assert_ksense_error(post(client, deep, token=ingest_token.raw), 400, "nested deeper")
    assert Event.objects.count() == 0


def test_it_refuses_nesting_past_what_the_json_writer_takes_with_400_json(client, ingest_token):
    # 300 levels: the decoder takes 1,024, orjson writes 255 (was an HTML 500; found by the property tests).
    client.raise_request_exception = False
    body = '{"type": "pv", "event_data": ' + "[" * 300 + "]" * 300 + "}"
    assert_ksense_error(post(client, body, token=ingest_token.raw, raw=True), 400, "event[0]", "nested deeper")
    assert Event.objects.count() == 0


def test_it_refuses_a_thousand_levels_with_a_long_number_with_400_json(client, ingest_token):
    # The decoder's exact check of long integers recursed once per level (RecursionError, an HTML 500;
    # found by the property tests).
    client.raise_request_exception = False
    body = '{"type": "pv", "event_data": ' + "[" * 1000 + "1234567890123456789" + "]" * 1000 + "}"
    assert_ksense_error(post(client, body, token=ingest_token.raw, raw=True), 400, "event[0]", "nested deeper")
    assert Event.objects.count() == 0


def test_it_stores_nesting_at_the_limit(client, ingest_token, settings):
    event = {"type": "pv"}
    node = event
    for _ in range(settings.INGEST_MAX_DEPTH - 1):
        node["x"] = {}
        node = node["x"]
    assert post(client, event, token=ingest_token.raw).status_code == 200
    assert Event.objects.count() == 1


def test_a_batch_with_one_bad_event_stores_nothing_and_names_it(client, ingest_token):
    body = [{"type": "pv"}, {"type": "pv"}, {"type": "pv"}, {"type": "pv", "time_utc": "yesterday"}]
    assert_ksense_error(post(client, body, token=ingest_token.raw), 400, "event[3].time_utc")
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-11-24T07:00:00Z", "2026-11-24T07:00:00+00:00"),
        ("2026-11-24T09:00:00+02:00", "2026-11-24T07:00:00+00:00"),
        ("2026-11-24T07:00:00", "2026-11-24T07:00:00+00:00"),
        ("2026-11-24T07:00:00.123456Z", "2026-11-24T07:00:00.123456+00:00"),
        (1795503600, "2026-11-24T07:00:00+00:00"),
        (1795503600000, "2026-11-24T07:00:00+00:00"),
        (1795503600.5, "2026-11-24T07:00:00.500000+00:00"),
        ("1795503600000", "2026-11-24T07:00:00+00:00"),
    ],
)
def test_it_reads_iso_8601_and_epoch_times(client, ingest_token, value, expected):
    assert post(client, {"type": "pv", "time_utc": value}, token=ingest_token.raw).status_code == 200
    assert Event.objects.get().timestamp.isoformat() == expected


@pytest.mark.parametrize("value", ["1900-01-01T00:00:00Z", "2200-01-01T00:00:00Z", -5, 99999999999999999, True, {}])
def test_it_rejects_nonsense_times(client, ingest_token, value):
    assert_ksense_error(post(client, {"type": "pv", "time_utc": value}, token=ingest_token.raw), 400, "time_utc")
    assert Event.objects.count() == 0


# Each was an HTML 500 (str.isdigit() accepts them, int() then raises) or, for "١٢٣", epoch second 123.
NON_ASCII_OR_HUGE_DIGITS = [
    "²", "¹⁷⁹⁵⁵⁰³⁶⁰⁰", "1" * 5000, " " + "9" * 4301, "١٢٣", "١٧٩٥٥٠٣٦٠٠", "１７９５５０３６００",
]


@pytest.mark.parametrize("value", NON_ASCII_OR_HUGE_DIGITS, ids=[
    "superscript-two", "superscript-epoch", "5000-digits", "4301-digits", "arabic-indic-123", "arabic-indic-epoch",
    "fullwidth-epoch"])
def test_it_refuses_times_of_non_ascii_or_thousands_of_digits_with_400_json(client, ingest_token, value):
    client.raise_request_exception = False  # see the answer a real client gets, not the exception
    response = post(client, {"type": "pv", "time_utc": value}, token=ingest_token.raw)
    assert_ksense_error(response, 400, "event[0].time_utc")
    assert Event.objects.count() == 0


def test_it_uses_the_receipt_time_when_no_time_is_given(client, ingest_token):
    assert post(client, {"type": "pv"}, token=ingest_token.raw).status_code == 200
    event = Event.objects.get()
    assert event.timestamp == event.received_at


def test_it_rejects_a_body_over_the_limit_with_413(client, ingest_token, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    body = [{"type": "pv", "event_data": {"pad": "x" * 100}} for _ in range(30)]
    assert_ksense_error(post(client, body, token=ingest_token.raw), 413)
    assert Event.objects.count() == 0


def test_it_rejects_an_event_over_the_limit_with_413(client, ingest_token, settings):
    settings.INGEST_MAX_EVENT_BYTES = 512
    body = [{"type": "pv"}, {"type": "pv", "event_data": {"pad": "x" * 600}}]
    assert_ksense_error(post(client, body, token=ingest_token.raw), 413, "event[1]")
    assert Event.objects.count() == 0


def test_it_rejects_too_many_events_with_413(client, ingest_token, settings):
    settings.INGEST_MAX_EVENTS = 5
    assert_ksense_error(post(client, [{"type": "pv"}] * 6, token=ingest_token.raw), 413, "limit is 5")
    assert Event.objects.count() == 0


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/xml"])
def test_it_rejects_non_json_media_types_with_415(client, ingest_token, content_type):
    response = post(client, b'{"type": "pv"}', token=ingest_token.raw, raw=True, content_type=content_type)
    assert_ksense_error(response, 415)
    assert Event.objects.count() == 0


def test_it_accepts_a_gzip_body(client, ingest_token):
    body = gzip.compress(json.dumps([{"type": "pv"}, {"type": "click"}]).encode())
    response = post(client, body, token=ingest_token.raw, raw=True, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert Event.objects.count() == 2


def test_it_rejects_a_corrupt_gzip_body(client, ingest_token):
    response = post(client, b"\x1f\x8bnot gzip", token=ingest_token.raw, raw=True, headers={"Content-Encoding": "gzip"})
    assert_ksense_error(response, 400, "gzip")
    assert Event.objects.count() == 0


def test_it_refuses_a_decompression_bomb(client, ingest_token, settings):
    bomb = gzip.compress(b'{"type": "' + b"a" * (settings.INGEST_MAX_BODY_BYTES * 4) + b'"}')
    assert len(bomb) < settings.INGEST_MAX_BODY_BYTES
    response = post(client, bomb, token=ingest_token.raw, raw=True, headers={"Content-Encoding": "gzip"})
    assert_ksense_error(response, 413, "decompressed")
    assert Event.objects.count() == 0


def test_it_rejects_an_unknown_content_encoding_with_415(client, ingest_token):
    response = post(client, b'{"type":"pv"}', token=ingest_token.raw, raw=True, headers={"Content-Encoding": "br"})
    assert_ksense_error(response, 415)
    assert Event.objects.count() == 0


def test_reposting_an_event_id_replaces_the_event(client, ingest_token):
    assert post(client, {"event_id": "x1", "type": "pv"}, token=ingest_token.raw).status_code == 200
    assert post(client, {"event_id": "x1", "type": "click"}, token=ingest_token.raw).status_code == 200
    event = Event.objects.get()
    assert (event.event_id, event.type) == ("x1", "click")


def test_the_last_duplicate_event_id_in_one_request_wins(client, ingest_token):
    body = [{"event_id": "d", "type": "first"}, {"type": "other"}, {"event_id": "d", "type": "last"}]
    assert post(client, body, token=ingest_token.raw).status_code == 200
    assert sorted(Event.objects.values_list("type", flat=True)) == ["last", "other"]


def test_the_same_event_id_in_another_datasource_is_kept_apart(client, ingest_token):
    other = make_token(datasource=make_datasource(slug="mobile"), scope="ingest")
    assert post(client, {"event_id": "same", "type": "a"}, token=ingest_token.raw).status_code == 200
    assert post(client, {"event_id": "same", "type": "b"}, token=other.raw).status_code == 200
    assert sorted(Event.objects.values_list("datasource__slug", "type")) == [("mobile", "b"), ("web", "a")]


def test_pre_hashed_and_raw_identities_meet_in_one_digest(client, ingest_token):
    digest = hashlib.sha256(b"+15551234567").hexdigest()
    body = [
        {"type": "a", "user_id": {"phone": "+1 (555) 123-4567"}},
        {"type": "b", "user_id": {"phone": f"hash1:{digest.upper()}"}},
        {"type": "c", "user": {"anonymous_id": "anon-1"}},
    ]
    assert post(client, body, token=ingest_token.raw).status_code == 200
    assert list(Event.objects.order_by("sequence").values_list("user_phone", flat=True)) == [digest, digest, None]
    assert Event.objects.get(type="c").user_anonymous_id == hashlib.sha256(b"anon-1").hexdigest()


def test_it_updates_last_used_at(client, ingest_token):
    assert ingest_token.token.last_used_at is None
    assert post(client, {"type": "pv"}, token=ingest_token.raw).status_code == 200
    ingest_token.token.refresh_from_db()
    assert ingest_token.token.last_used_at is not None
