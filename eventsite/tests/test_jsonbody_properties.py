"""Property tests: strict body decoding is total (eventsite/lib/jsonbody.py's contract: plain JSON values
that jsonb and COPY accept, or a DomainError; nothing else, whatever the bytes and headers)."""

import gzip
import json
import math
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsite.lib.errors import DomainError
from eventsite.lib.jsonbody import INT64_MAX, INT64_MIN, check_json_value, decode_body, media_type, parse_json
from tests.properties import outcome
from tests.strategies import any_json, hostile_text, raw_bytes

pytestmark = pytest.mark.properties


def assert_plain_json(value) -> None:
    """What parse_json promises: integers within 64 bits, finite floats, text that is valid Unicode."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            assert INT64_MIN <= item <= INT64_MAX
        elif isinstance(item, float):
            assert math.isfinite(item)
        elif isinstance(item, str):
            item.encode("utf-8")  # no lone surrogates
        elif isinstance(item, list):
            stack.extend(item)
        else:
            assert isinstance(item, dict)
            for key, child in item.items():
                key.encode("utf-8")
                stack.append(child)


content_types = st.one_of(st.sampled_from(["application/json", "text/plain;charset=UTF-8", "", "APPLICATION/JSON ; x"]),
                          hostile_text)
encodings = st.one_of(st.sampled_from(["", "identity", "gzip", "deflate", " GZIP "]), hostile_text)


@st.composite
def encoded_bodies(draw):
    """A body, maybe compressed (or cut short, or with trailing bytes), and the encoding it claims."""
    body = draw(raw_bytes)
    encoding = draw(encodings)
    compressor = draw(st.sampled_from(["none", "gzip", "deflate"]))
    if compressor == "gzip":
        body = gzip.compress(body)
    elif compressor == "deflate":
        body = zlib.compress(body)
    cut = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=len(body))))
    return (body[:cut] if cut is not None else body) + draw(st.sampled_from([b"", b"\x00", b"junk"])), encoding


@given(encoded_bodies(), content_types, st.integers(min_value=1, max_value=4096))
def test_decode_body_gives_bytes_within_the_limit_or_a_domain_error(body_and_encoding, content_type, max_bytes):
    raw, encoding = body_and_encoding
    decoded = outcome(decode_body, raw, content_type=content_type, content_encoding=encoding, max_bytes=max_bytes)
    assert decoded is None or (isinstance(decoded, bytes) and len(decoded) <= max_bytes)


@given(raw_bytes, st.sampled_from(["gzip", "deflate", "identity"]))
def test_decode_body_undoes_what_it_claims_to(body, encoding):
    compressed = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": bytes}[encoding](body)
    decoded = outcome(decode_body, compressed, content_type="application/json", content_encoding=encoding,
                      max_bytes=max(len(body), 1))
    assert decoded == body


@given(hostile_text)
def test_media_type_reads_any_header(content_type):
    assert isinstance(media_type(content_type), str)


@given(raw_bytes)
def test_parse_json_gives_plain_json_or_a_domain_error(body):
    value = outcome(parse_json, body)
    if value is None:
        return
    assert_plain_json(value)
    assert value == json.loads(body)  # the same document Python's own parser reads


@given(any_json, st.integers(min_value=1, max_value=40))
def test_check_json_value_refuses_exactly_nul_and_depth_past_the_limit(value, max_depth):
    has_nul, depth = False, 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            has_nul |= "\x00" in item
        elif isinstance(item, (list, dict)):
            depth = max(depth, level)
            if isinstance(item, dict):
                has_nul |= any("\x00" in key for key in item)
                item = list(item.values())
            stack.extend((child, level + 1) for child in item)
    try:
        check_json_value(value, max_depth=max_depth, where="event[0]")
    except DomainError as error:
        assert error.status_code == 400
        refused = True
    else:
        refused = False
    assert refused == (has_nul or depth > max_depth)
