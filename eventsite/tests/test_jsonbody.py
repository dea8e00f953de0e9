import gzip
import re
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsite.lib.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from eventsite.lib.jsonbody import check_json_value, decode_body, has_long_digit_run, parse_json


def test_it_parses_plain_json():
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize("number", [b"9223372036854775807", b"-9223372036854775808"])
def test_it_keeps_64_bit_integers_exactly(number):
    assert parse_json(b'{"n": ' + number + b"}") == {"n": int(number)}


def test_a_long_digit_run_inside_a_string_is_not_a_number():
    assert parse_json(b'{"s": "12345678901234567890123"}') == {"s": "12345678901234567890123"}


@pytest.mark.parametrize("number", [b"9223372036854775808", b"-9223372036854775809", b"1" * 5000])
def test_it_rejects_integers_beyond_64_bits(number):
    with pytest.raises(InvalidInput):
        parse_json(b'{"n": ' + number + b"}")


@pytest.mark.parametrize("number", [b"1234567890123456789", b"-9223372036854775808"])
def test_a_long_integer_nested_a_thousand_deep_is_read_without_recursion(number):
    # The exact check of long integers was a second parse with Python's json, which raised RecursionError
    # here (an HTML 500; found by the property tests).
    assert parse_json(b"[" * 1020 + number + b"]" * 1020) is not None
    with pytest.raises(InvalidInput, match="64-bit"):
        parse_json(b"[" * 1020 + number + b"0" + b"]" * 1020)


@pytest.mark.parametrize("body", [
    b"[1.12345678901234567890123]", b"[1e-12345678901234567890]", b"[12345678901234567890.5]",
    b'{"12345678901234567890123": "-12345678901234567890123"}',
    rb'["\\", "12345678901234567890123", "\"1234567890123456789012"]',
])
def test_long_digit_runs_that_are_no_integer_literal_are_accepted(body):
    assert parse_json(body) is not None


def test_decode_body_inflates_gzip_and_deflate_within_the_limit():
    assert decode_body(gzip.compress(b"{}"), content_type="application/json", content_encoding="gzip",
                       max_bytes=10) == b"{}"
    assert decode_body(zlib.compress(b"{}"), content_type="application/json", content_encoding="deflate",
                       max_bytes=10) == b"{}"


def test_decode_body_stops_inflating_at_the_limit():
    with pytest.raises(PayloadTooLarge):
        decode_body(gzip.compress(b"x" * 10_000), content_type="", content_encoding="gzip", max_bytes=100)


def test_decode_body_rejects_a_truncated_stream():
    with pytest.raises(InvalidInput, match="truncated"):
        decode_body(gzip.compress(b"x" * 1000)[:-12], content_type="", content_encoding="gzip", max_bytes=10_000)


def test_decode_body_accepts_json_with_a_charset_and_text_plain():
    assert decode_body(b"{}", content_type="application/json; charset=utf-8", max_bytes=10) == b"{}"
    assert decode_body(b"{}", content_type="text/plain;charset=UTF-8", max_bytes=10) == b"{}"
    with pytest.raises(UnsupportedMediaType):
        decode_body(b"{}", content_type="text/html", max_bytes=10)


def test_check_json_value_finds_nul_in_nested_keys_and_values():
    check_json_value({"a": [{"b": "ok"}]}, max_depth=5, where="e")
    with pytest.raises(InvalidInput, match="NUL"):
        check_json_value({"a": [{"b": "x\x00"}]}, max_depth=5, where="e")
    with pytest.raises(InvalidInput, match="NUL"):
        check_json_value({"a": [{"b\x00": 1}]}, max_depth=5, where="e")
    with pytest.raises(InvalidInput, match="deeper than 2"):
        check_json_value({"a": [[1]]}, max_depth=2, where="e")


# has_long_digit_run replaced re.search(rb"\d{19,}", body) on the ingest hot path (issue 16): same answer.
_REGEX_LONG_DIGIT_RUN = re.compile(rb"\d{19,}")
_digit_heavy_bytes = st.lists(
    st.one_of(st.sampled_from(list(b"0123456789")), st.integers(min_value=0, max_value=255)), max_size=80
).map(bytes)


@pytest.mark.parametrize("body", [
    b"", b"1" * 18, b"1" * 19, b"x" + b"9" * 19 + b"x", b"1" * 18 + b"." + b"1" * 18,
    "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠".encode(), b"\xff" * 19, b"0" * 10 + b"\x00" + b"0" * 10,
])
def test_the_long_digit_run_check_gives_the_regex_answer(body):
    assert has_long_digit_run(body) is bool(_REGEX_LONG_DIGIT_RUN.search(body))


@pytest.mark.properties
@given(st.one_of(_digit_heavy_bytes, st.binary(max_size=200)))
def test_the_long_digit_run_check_gives_the_regex_answer_for_any_bytes(body):
    assert has_long_digit_run(body) is bool(_REGEX_LONG_DIGIT_RUN.search(body))
