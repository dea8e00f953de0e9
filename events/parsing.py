"""Turning decoded JSON events into EventRows, in plain Python (this is the hot path).

Each API family has a parser here; they share the time and size rules. A parser raises
InvalidInput naming the event (by its position) and the field; it never touches the DB.
"""

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from events.identities import identity_digest
from eventsite.lib.errors import InvalidInput, PayloadTooLarge
from eventsite.lib.jsonbody import check_json_value

# Epoch numbers below this are seconds, at or above it milliseconds (1e11 s is year 5138,
# 1e11 ms is March 1973), the same rule Segment and PostHog clients rely on.
EPOCH_MS_THRESHOLD = 100_000_000_000
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_EVENT_ID_LENGTH = 256
MAX_TYPE_LENGTH = 200
# Epoch milliseconds of 2100 have 13 digits: anything past these bounds is out of range whatever it says.
MAX_EPOCH_DIGITS = 20
MAX_EPOCH_NUMBER = 10**MAX_EPOCH_DIGITS


@dataclass(slots=True)
class EventRow:
    """One event ready to be written; payload_json is the stored original, serialised once."""

    timestamp: datetime
    payload: Any
    payload_json: bytes
    type: str = ""
    event_id: str | None = None
    customer: str | None = None
    product: str | None = None
    identities: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_events: int
    max_event_bytes: int
    max_depth: int

    @classmethod
    def from_settings(cls) -> "IngestLimits":
        from django.conf import settings

        return cls(
            max_events=settings.INGEST_MAX_EVENTS,
            max_event_bytes=settings.INGEST_MAX_EVENT_BYTES,
            max_depth=settings.INGEST_MAX_DEPTH,
        )


def parse_event_time(value: Any, *, now: datetime, where: str) -> datetime:
    """ISO 8601 text (naive means UTC) or epoch seconds/milliseconds; absent means now.

    Epoch text is ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and
    "١٢٣" (which int() reads as 123), and int() refuses more than 4,300 digits; each was an HTML 500
    or a wrong time.
    """
    if value is None:
        return now
    if isinstance(value, bool):
        raise InvalidInput(f"{where} must be an ISO 8601 string or epoch number, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            if len(text) > MAX_EPOCH_DIGITS:
                raise InvalidInput(f"{where} {value[:40]!r} is out of range")
            return parse_event_time(int(text), now=now, where=where)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"{where} {value[:40]!r} is not an ISO 8601 time or epoch number") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):  # isfinite() of a huge int overflows
            raise InvalidInput(f"{where} is not a finite number")
        # Checked on the number itself: dividing an integer past float range raises OverflowError.
        if not -MAX_EPOCH_NUMBER < value < MAX_EPOCH_NUMBER:
            raise InvalidInput(f"{where} {_shown(value)} is out of range")
        seconds = value if abs(value) < EPOCH_MS_THRESHOLD else value / 1000
        try:
            parsed = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(f"{where} {_shown(value)} is out of range") from None
    else:
        raise InvalidInput(f"{where} must be an ISO 8601 string or epoch number")
    if not MIN_TIME <= parsed < MAX_TIME:
        raise InvalidInput(f"{where} {_shown(value)} is outside 1970-01-01..2099-12-31")
    return parsed


def _shown(value: Any) -> str:
    """A value for an error message, never longer than 40 characters (repr of a huge int is slow and long)."""
    if isinstance(value, int) and not -MAX_EPOCH_NUMBER < value < MAX_EPOCH_NUMBER:
        return "(a number too large to show)"
    return repr(value)[:40]


def serialize_event(event: Any, *, limits: IngestLimits, where: str) -> bytes:
    try:
        encoded = orjson.dumps(event)
    except orjson.JSONEncodeError:
        # orjson writes at most 255 levels of nesting, and a body may hold up to 1,024 (a 600-byte
        # body was an HTML 500; found by the property tests). Values that come from no decoder
        # (integers past 64 bits, lone surrogates) end here too.
        check_json_value(event, max_depth=limits.max_depth, where=where)
        raise InvalidInput(f"{where} cannot be stored as JSON (nested too deeply, or a value out of range)") from None
    # The exact walk for NUL characters and nesting depth runs only when the serialised form
    # says it might find something: orjson writes a NUL as \u0000, and nesting cannot be
    # deeper than the number of brackets. Ordinary events skip it (it is the costliest check).
    if b"\\u0000" in encoded or encoded.count(b"{") + encoded.count(b"[") > limits.max_depth:
        check_json_value(event, max_depth=limits.max_depth, where=where)
    if len(encoded) > limits.max_event_bytes:
        raise PayloadTooLarge(f"{where} is {len(encoded)} bytes; the limit per event is {limits.max_event_bytes}")
    return encoded


def as_event_list(document: Any, *, limits: IngestLimits) -> list:
    """A body holds one event object or an array of them."""
    events = document if isinstance(document, list) else [document]
    if not events:
        raise InvalidInput("The array of events is empty")
    if len(events) > limits.max_events:
        raise PayloadTooLarge(f"{len(events)} events in one request; the limit is {limits.max_events}")
    return events


def optional_string(event: dict, key: str, *, where: str, max_length: int) -> str | None:
    value = event.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}.{key} must be a string", field=key)
    if len(value) > max_length:
        raise InvalidInput(f"{where}.{key} is longer than {max_length} characters", field=key)
    return value


KSENSE_USER_ID_KEYS = ("email", "phone", "idfa", "gaid", "internal_id")


def ksense_rows(document: Any, *, limits: IngestLimits, now: datetime) -> list[EventRow]:
    """Events of the kSense Server API v2 (`post_event`)."""
    rows = []
    for position, event in enumerate(as_event_list(document, limits=limits)):
        where = f"event[{position}]"
        if not isinstance(event, dict):
            raise InvalidInput(f"{where} must be a JSON object")
        payload_json = serialize_event(event, limits=limits, where=where)
        event_id = optional_string(event, "event_id", where=where, max_length=MAX_EVENT_ID_LENGTH) or None
        event_type = optional_string(event, "type", where=where, max_length=MAX_TYPE_LENGTH) or ""
        timestamp = parse_event_time(event.get("time_utc"), now=now, where=f"{where}.time_utc")
        identities = {}
        user_id = event.get("user_id")
        if user_id is not None:
            if not isinstance(user_id, dict):
                raise InvalidInput(f"{where}.user_id must be a User ID object (email, phone, idfa, gaid, internal_id)")
            for kind, value in user_id.items():
                if kind not in KSENSE_USER_ID_KEYS:
                    raise InvalidInput(
                        f"{where}.user_id.{kind} is not a User ID type; use {', '.join(KSENSE_USER_ID_KEYS)}"
                    )
                digest = identity_digest(kind, value, where=f"{where}.user_id")
                if digest:
                    identities[kind] = digest
        user = event.get("user")
        if isinstance(user, dict) and user.get("anonymous_id") not in (None, ""):
            # EventNative's user.anonymous_id, which later kSense-era clients send.
            digest = identity_digest("anonymous_id", user["anonymous_id"], where=f"{where}.user")
            identities["anonymous_id"] = digest
        for key in ("labels", "device", "event_data"):
            value = event.get(key)
            if key == "labels" and value is not None and not isinstance(value, list):
                raise InvalidInput(f"{where}.labels must be an array")
            if key == "device" and value is not None and not isinstance(value, dict):
                raise InvalidInput(f"{where}.device must be an object")
        rows.append(
            EventRow(
                timestamp=timestamp,
                payload=event,
                payload_json=payload_json,
                type=event_type,
                event_id=event_id,
                identities=identities,
            )
        )
    return rows


# --- Barchart events API -------------------------------------------------------------------

BARCHART_REQUIRED = ("customer", "product", "type", "timestamp", "context")
MAX_CODE_LENGTH = 64
MAX_CONTEXT_ITEMS = 64


def malformed_field(field: str) -> str:
    """Barchart's wording for a field it cannot use (REQUEST_PARAMETER_MALFORMED)."""
    return f'The "{field}" field cannot be interpreted.'


def barchart_rows(document: Any, *, limits: IngestLimits, catalog=None) -> list[EventRow]:
    """Events of the Barchart API (`POST /events`), validated against the catalog if there is one.

    Every offending field of every event is reported (Barchart lists them as children).
    """
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise InvalidInput("The body must be an object with an array of events", details=[malformed_field("events")])
    events = document["events"]
    if not events:
        raise InvalidInput("The array of events is empty", details=[malformed_field("events")])
    if len(events) > limits.max_events:
        raise PayloadTooLarge(f"{len(events)} events in one request; the limit is {limits.max_events}")
    rows, problems = [], []
    for position, event in enumerate(events):
        where = f"events[{position}]"
        if not isinstance(event, dict):
            problems.append(f"{malformed_field(where)} It must be an object.")
            continue
        bad = _barchart_problems(event, catalog)
        if bad:
            problems.extend(f"{malformed_field(f'{where}.{name}')} {why}".strip() for name, why in bad)
            continue
        payload_json = serialize_event(event, limits=limits, where=where)
        identities = {}
        if catalog is not None:
            position_of_user = catalog.types[event["type"]].user_position
            if position_of_user is not None and position_of_user < len(event["context"]):
                digest = identity_digest("internal_id", event["context"][position_of_user], where=where)
                if digest:
                    identities["internal_id"] = digest
        timestamp = parse_event_time(event["timestamp"], now=MIN_TIME, where=f"{where}.timestamp")
        rows.append(EventRow(timestamp=timestamp, payload=event, payload_json=payload_json, type=event["type"],
                             customer=event["customer"], product=event["product"], identities=identities))
    if problems:
        shown = problems[:50]
        raise InvalidInput(f"{len(problems)} field(s) of the request cannot be interpreted", details=shown)
    return rows


def _barchart_problems(event: dict, catalog) -> list[tuple[str, str]]:
    bad = [(name, "It is required.") for name in BARCHART_REQUIRED if name not in event]
    for name in ("customer", "product", "type"):
        value = event.get(name)
        if name in event and (not isinstance(value, str) or not value or len(value) > MAX_CODE_LENGTH):
            bad.append((name, f"It must be a non-empty string of at most {MAX_CODE_LENGTH} characters."))
    timestamp = event.get("timestamp")
    if "timestamp" in event:
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            bad.append(("timestamp", "It must be a whole number of milliseconds since the epoch."))
        elif not EPOCH_MS_THRESHOLD <= timestamp < int(MAX_TIME.timestamp() * 1000):
            bad.append(("timestamp", "It must be milliseconds since the epoch, between 1973 and 2099."))
    context = event.get("context")
    context_ok = isinstance(context, list) and len(context) <= MAX_CONTEXT_ITEMS
    if "context" in event and not (context_ok and all(isinstance(c, str) for c in context)):
        bad.append(("context", "It must be an array of strings."))
        context = None
    if "version" in event and (not isinstance(event["version"], str) or len(event["version"]) > MAX_CODE_LENGTH):
        bad.append(("version", "It must be a string."))
    if bad or catalog is None:
        return bad
    return _catalog_problems(event, context, catalog)


def _catalog_problems(event: dict, context: list[str], catalog) -> list[tuple[str, str]]:
    bad = []
    if event["customer"] not in catalog.customers:
        bad.append(("customer", f"{event['customer']!r} is not a known customer."))
    if event["product"] not in catalog.products:
        bad.append(("product", f"{event['product']!r} is not a known product."))
    event_type = catalog.types.get(event["type"])
    if event_type is None:
        bad.append(("type", f"{event['type']!r} is not a known event type."))
        return bad
    if event_type.product != event["product"]:
        bad.append(("type", f"{event['type']!r} belongs to product {event_type.product!r}."))
    keys = event_type.context_keys
    rules = event_type.context_rules.get(event["customer"], (None,) * len(keys))
    required = len(keys)
    while required and rules[required - 1] == "stringOptional":
        required -= 1  # optional trailing values may be left out
    if not required <= len(context) <= len(keys):
        bad.append(("context", f"It needs {len(keys)} values ({', '.join(keys)})."))
        return bad
    for index, value in enumerate(context):
        rule = rules[index]
        if rule == "string" and not value:
            bad.append((f"context[{index}]", f"{keys[index]} must be a non-empty string."))
        elif rule == "uuid" and not _is_uuid(value):
            bad.append((f"context[{index}]", f"{keys[index]} must be a UUID."))
    return bad


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) in (32, 36)


# --- Jitsu (EventNative) API ---------------------------------------------------------------

# Keys the Jitsu SDK copies into every event that must not be stored: api_key is the raw token.
JITSU_DROPPED_KEYS = ("api_key",)


def jitsu_rows(document: Any, *, limits: IngestLimits, now: datetime) -> list[EventRow]:
    """Events of the Jitsu SDK (`/api/v1/event`, `/api/v1/s2s/event`), also in its eventn_ctx
    compatibility shape. An empty event_id gets a server-assigned UUID."""
    rows = []
    for position, event in enumerate(as_event_list(document, limits=limits)):
        where = f"event[{position}]"
        if not isinstance(event, dict):
            raise InvalidInput(f"{where} must be a JSON object")
        event = {key: value for key, value in event.items() if key not in JITSU_DROPPED_KEYS}
        if isinstance(event.get("eventn_ctx"), dict):
            event["eventn_ctx"] = context = dict(event["eventn_ctx"])
        else:
            context = event
        event_id = optional_string(context, "event_id", where=where, max_length=MAX_EVENT_ID_LENGTH)
        if not event_id:
            # The Node SDK sends "": assign one, and store it in the payload too.
            event_id = context["event_id"] = uuid.uuid4().hex
        payload_json = serialize_event(event, limits=limits, where=where)
        event_type = optional_string(event, "event_type", where=where, max_length=MAX_TYPE_LENGTH) or ""
        timestamp = parse_event_time(context.get("utc_time"), now=now, where=f"{where}.utc_time")
        identities = {}
        user = context.get("user")
        if user is not None and not isinstance(user, dict):
            raise InvalidInput(f"{where}.user must be an object")
        for key, kind in (("anonymous_id", "anonymous_id"), ("id", "internal_id"), ("email", "email")):
            value = (user or {}).get(key)
            if value not in (None, ""):
                identities[kind] = identity_digest(kind, value, where=f"{where}.user")
        rows.append(EventRow(timestamp=timestamp, payload=event, payload_json=payload_json, type=event_type,
                             event_id=event_id, identities=identities))
    return rows
