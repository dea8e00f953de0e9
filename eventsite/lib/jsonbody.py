"""Strict, bounded JSON decoding for ingest bodies.

The contract: whatever bytes a client sends, these functions either return plain JSON
values that PostgreSQL's jsonb and our COPY writer accept, or raise a DomainError with a
message a client can act on. Nothing here touches the database or Django.
"""

import re
import zlib
from typing import Any

import orjson

from eventsite.lib.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

JSON_CONTENT_TYPES = frozenset({"application/json", "text/plain", ""})
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# orjson turns integers beyond 64 bits into floats without a word; a run of 19+ digits is
# the only way such a number can appear, so only then do we scan for integer literals.
# The test maps every ASCII digit to "0" and everything else to a space, then looks for 19 zeros:
# the same answer as re.search(rb"\d{19,}"), at C speed (the regex took three times as long as
# orjson's parse of an ordinary 100-event batch; issue 16's profile).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19


def has_long_digit_run(body: bytes) -> bool:
    """Whether body holds 19 or more ASCII digits in a row."""
    return _NINETEEN_DIGITS in body.translate(_DIGITS_ONLY)

# A JSON string (skipped whole) or an integer literal of 19+ digits: not part of a fraction or an
# exponent, not followed by one. The scan runs on a body orjson has already parsed, so every quote it
# meets opens a string. It replaced a second parse with Python's json, which has no depth limit of its
# own and raised RecursionError on a body nested ~1,000 deep (a 500; found by the property tests).
_STRING_OR_LONG_INTEGER = re.compile(rb'"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])(-?\d{19,})(?![\d.eE])', re.DOTALL)


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def decode_body(
    raw: bytes,
    *,
    content_type: str,
    content_encoding: str = "",
    max_bytes: int,
    allowed_types: frozenset[str] = JSON_CONTENT_TYPES,
) -> bytes:
    """Check the media type and undo gzip/deflate, never inflating past max_bytes."""
    if media_type(content_type) not in allowed_types:
        raise UnsupportedMediaType(
            f"Content-Type {media_type(content_type)!r} is not supported; send application/json"
        )
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        body = raw
    elif encoding in ("gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        inflater = zlib.decompressobj(wbits)
        try:
            body = inflater.decompress(raw, max_bytes + 1)
        except zlib.error:
            raise InvalidInput(f"The body is not valid {encoding} data") from None
        if len(body) > max_bytes or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"The decompressed body exceeds {max_bytes} bytes")
        if not inflater.eof:
            raise InvalidInput(f"The {encoding} body is truncated")
    else:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"The body exceeds {max_bytes} bytes")
    return body


def parse_json(body: bytes) -> Any:
    """Parse a JSON document strictly: no NaN/Infinity, valid UTF-8, integers within 64 bits."""
    if not body.strip():
        raise InvalidInput("The body is empty; send a JSON event or an array of events")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}") from None
    if has_long_digit_run(body):
        for match in _STRING_OR_LONG_INTEGER.finditer(body):
            literal = match.group(1)
            # More than 19 digits is out of range whatever they say (int() refuses over 4,300).
            if literal and (len(literal.lstrip(b"-")) > 19 or not INT64_MIN <= int(literal) <= INT64_MAX):
                raise InvalidInput(
                    f"The number {literal[:40].decode()} is outside the 64-bit integer range; send it as a string"
                )
    return value


def check_json_value(value: Any, *, max_depth: int, where: str) -> None:
    """Reject what jsonb and COPY cannot store: NUL characters, and nesting past max_depth."""
    _walk(value, 1, max_depth, where)


def _walk(value: Any, depth: int, max_depth: int, where: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{where} contains a NUL (\\u0000) character, which cannot be stored")
        return
    if isinstance(value, dict):
        if depth > max_depth:
            raise InvalidInput(f"{where} is nested deeper than {max_depth} levels")
        for key, item in value.items():
            if "\x00" in key:
                raise InvalidInput(f"{where} has a key with a NUL (\\u0000) character, which cannot be stored")
            if isinstance(item, (dict, list, str)):
                _walk(item, depth + 1, max_depth, where)
        return
    if isinstance(value, list):
        if depth > max_depth:
            raise InvalidInput(f"{where} is nested deeper than {max_depth} levels")
        for item in value:
            if isinstance(item, (dict, list, str)):
                _walk(item, depth + 1, max_depth, where)
