"""Property tests: the event parsers are total. Whatever JSON value a client's body decodes to (and
more: parsers are called directly with values no decoder gives), each parser returns rows that can be
stored or raises a DomainError (a 4xx in the family's format); nothing else escapes.

Profiles (examples per test) are in the root conftest.py; `make fuzz` runs many more.
"""

import re
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalog import RULES, Catalog, CatalogType
from events.parsing import (
    MAX_TIME,
    MIN_TIME,
    EventRow,
    IngestLimits,
    barchart_rows,
    jitsu_rows,
    ksense_rows,
    parse_event_time,
)
from eventsite.lib.jsonbody import parse_json
from tests.properties import outcome
from tests.strategies import any_json, hostile_text, json_values, objects_with, raw_bytes

pytestmark = pytest.mark.properties

NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
LIMITS = IngestLimits(max_events=20, max_event_bytes=64 * 1024, max_depth=32)
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def assert_storable(rows: list[EventRow]) -> None:
    """What events_ingest needs: stored JSON that decodes to the payload, times in range, digests."""
    assert rows
    for row in rows:
        assert MIN_TIME <= row.timestamp < MAX_TIME or row.timestamp == NOW
        assert row.timestamp.utcoffset() is not None
        assert orjson.loads(row.payload_json) == row.payload
        assert b"\\u0000" not in row.payload_json
        assert all(HEX_DIGEST.fullmatch(digest) for digest in row.identities.values())
        for text in (row.type, row.event_id, row.customer, row.product):
            assert text is None or (isinstance(text, str) and "\x00" not in text)


# --- event times ---------------------------------------------------------------------------------

times = st.one_of(any_json, hostile_text, st.floats())


# Cheap to run, and where the number rules live: five times the profile's examples (in CI they find
# "²"-like digits, which int() refuses, on every seed tried: see the README).
@settings(max_examples=settings.default.max_examples * 5)
@given(times)
def test_an_event_time_is_a_time_in_range_or_a_domain_error(value):
    parsed = outcome(parse_event_time, value, now=NOW, where="event[0].time_utc")
    assert parsed is None or parsed == NOW or MIN_TIME <= parsed < MAX_TIME


@settings(max_examples=settings.default.max_examples * 5)
@given(hostile_text)
def test_text_is_a_time_only_as_ascii_epoch_digits_or_iso_8601(value):
    parsed = outcome(parse_event_time, value, now=NOW, where="event[0].time_utc")
    text = value.strip()
    if parsed is not None:  # never "١٢٣" read as epoch second 123
        assert ASCII_DIGITS.fullmatch(text) or is_iso_8601(text), f"{text!r} was read as {parsed}"


def is_iso_8601(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- kSense --------------------------------------------------------------------------------------

ksense_user_ids = objects_with(["email", "phone", "idfa", "gaid", "internal_id"], values=st.one_of(
    hostile_text, json_values()))
ksense_events = objects_with(
    ["event_id", "type", "time_utc", "labels", "device", "event_data"],
) | st.builds(
    lambda event, user_id, user: {**event, "user_id": user_id, "user": user},
    objects_with(["event_id", "type", "time_utc"]),
    st.one_of(ksense_user_ids, any_json),
    st.one_of(objects_with(["anonymous_id"]), any_json),
)
ksense_documents = st.one_of(any_json, ksense_events, st.lists(st.one_of(ksense_events, any_json), max_size=25))


@given(ksense_documents)
def test_ksense_rows_are_storable_or_a_domain_error(document):
    rows = outcome(ksense_rows, document, limits=LIMITS, now=NOW)
    if rows is not None:
        assert_storable(rows)


# --- Jitsu ---------------------------------------------------------------------------------------

jitsu_users = objects_with(["anonymous_id", "id", "email"])
jitsu_fields = ["event_id", "event_type", "utc_time", "api_key", "src", "url"]
jitsu_events = st.builds(
    lambda event, user, context: {**event, "user": user, **({"eventn_ctx": context} if context is not None else {})},
    objects_with(jitsu_fields),
    st.one_of(jitsu_users, any_json),
    st.one_of(st.none(), any_json, st.builds(lambda ctx, user: {**ctx, "user": user}, objects_with(jitsu_fields),
                                             st.one_of(jitsu_users, any_json))),
)
jitsu_documents = st.one_of(any_json, jitsu_events, st.lists(st.one_of(jitsu_events, any_json), max_size=25))


@given(jitsu_documents)
def test_jitsu_rows_are_storable_or_a_domain_error(document):
    rows = outcome(jitsu_rows, document, limits=LIMITS, now=NOW)
    if rows is not None:
        assert_storable(rows)
        assert all(row.event_id and "api_key" not in row.payload for row in rows)


# --- Barchart, with and without a catalog ---------------------------------------------------------

codes = st.one_of(st.sampled_from(["TGAM", "WEB", "pv", "click"]), hostile_text)
barchart_events = objects_with(
    ["customer", "product", "type", "timestamp", "context", "version"],
    values=st.one_of(codes, st.lists(st.one_of(codes, st.just(str(uuid.UUID(int=7)))), max_size=6), any_json),
)
barchart_documents = st.one_of(
    any_json,
    st.builds(lambda events, other: {**other, "events": events},
              st.one_of(st.lists(st.one_of(barchart_events, any_json), max_size=25), any_json),
              objects_with(["version"])),
)


@st.composite
def catalogs(draw):
    """A catalog as catalog_import would have stored it: its rules are among RULES."""
    keys = tuple(draw(st.lists(st.one_of(st.just("userId"), hostile_text), max_size=5, unique=True)))
    types = draw(st.dictionaries(codes, st.builds(
        CatalogType,
        product=codes,
        context_keys=st.just(keys),
        context_rules=st.dictionaries(codes, st.tuples(*[st.sampled_from(RULES)] * len(keys)), max_size=3),
    ), max_size=4))
    return Catalog(customers=frozenset(draw(st.lists(codes, max_size=4))),
                   products=frozenset(draw(st.lists(codes, max_size=4))), types=types)


@given(barchart_documents, st.one_of(st.none(), catalogs()))
def test_barchart_rows_are_storable_or_a_domain_error(document, catalog):
    rows = outcome(barchart_rows, document, limits=LIMITS, catalog=catalog)
    if rows is not None:
        assert_storable(rows)
        assert all(row.customer and row.product and row.type for row in rows)


# --- from the bytes a client sends -----------------------------------------------------------------


@given(raw_bytes, st.sampled_from(["ksense", "jitsu", "barchart"]))
def test_any_body_is_decoded_and_parsed_or_refused_with_a_domain_error(body, family):
    document = outcome(parse_json, body)
    if document is None:
        return
    if family == "ksense":
        rows = outcome(ksense_rows, document, limits=LIMITS, now=NOW)
    elif family == "jitsu":
        rows = outcome(jitsu_rows, document, limits=LIMITS, now=NOW)
    else:
        rows = outcome(barchart_rows, document, limits=LIMITS)
    if rows is not None:
        assert_storable(rows)
