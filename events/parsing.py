"""Turning decoded JSON events into EventRows, in plain Python (this is the hot path).

Each API family has a parser here; they share the time and size rules. A parser raises
InvalidInput naming the event (by its position) and the field; it never touches the DB.
"""

import math
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
    """ISO 8601 text (naive means UTC) or epoch seconds/milliseconds; absent means now."""
    if value is None:
        return now
    if isinstance(value, bool):
        raise InvalidInput(f"{where} must be an ISO 8601 string or epoch number, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_event_time(int(text), now=now, where=where)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"{where} {value[:40]!r} is not an ISO 8601 time or epoch number") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidInput(f"{where} is not a finite number")
        seconds = value if abs(value) < EPOCH_MS_THRESHOLD else value / 1000
        try:
            parsed = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(f"{where} {value!r} is out of range") from None
    else:
        raise InvalidInput(f"{where} must be an ISO 8601 string or epoch number")
    if not MIN_TIME <= parsed < MAX_TIME:
        raise InvalidInput(f"{where} {value!r} is outside 1970-01-01..2099-12-31")
    return parsed


def serialize_event(event: Any, *, limits: IngestLimits, where: str) -> bytes:
    check_json_value(event, max_depth=limits.max_depth, where=where)
    encoded = orjson.dumps(event)
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
