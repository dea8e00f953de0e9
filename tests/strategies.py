"""Hypothesis strategies for client input, shared by the property tests (`*_properties.py`).

One hostile text strategy serves every field, whatever the field means: arbitrary Unicode of every
category (surrogates included), runs of Unicode number characters (parsers look for numbers), ASCII,
and digit strings of any length. JSON values put every JSON type in every field, with numbers of any
size (beyond the 64 bits parse_json allows: parsers are called directly too) and nesting of any depth.
The profiles (`ci`, `fuzz`) are registered in the root conftest.py.
"""

import json

from hypothesis import strategies as st

# Every code point. Lone surrogates (Cs) are 2,048 of 1.1 million and st.characters() leaves them out
# even when told not to, so they are asked for on their own; st.text() drops them from a union of
# alphabets, hence text_of().
any_character = st.one_of(st.characters(exclude_categories=()), st.characters(categories=("Cs",)))


def text_of(alphabet, **sizes):
    return st.lists(alphabet, **sizes).map("".join)


number_character = st.characters(categories=("Nd", "Nl", "No"))

# Python's int() and str() stop at 4,300 digits, so no decoder gives a longer integer; text may be longer.
MAX_INT_DIGITS = 4300
big_integers = st.integers(min_value=1, max_value=MAX_INT_DIGITS).flatmap(
    lambda digits: st.integers(min_value=10 ** (digits - 1), max_value=10**digits - 1)
)
digit_strings = st.one_of(
    big_integers.map(str),
    st.tuples(st.integers(min_value=1, max_value=6000), st.text("0123456789", min_size=1, max_size=12)).map(
        lambda args: (args[1] * args[0])[: args[0]]
    ),
)

hostile_text = st.one_of(
    text_of(any_character),
    st.text(number_character, min_size=1),
    st.text(st.characters(codec="ascii")),
    digit_strings,
    # Around an ISO 8601 time: the shape date parsers look for, with any characters mixed in.
    st.builds("{}-{}-{}T{}:{}:{}{}".format, *[text_of(st.one_of(number_character, any_character), max_size=4)] * 7),
)

any_integer = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**63), max_value=2**64),
    big_integers,
    big_integers.map(lambda value: -value),
)
# JSON has no NaN or Infinity (parse_json refuses them; orjson would write them as null).
any_float = st.floats(allow_nan=False, allow_infinity=False)

scalars = st.one_of(st.none(), st.booleans(), any_integer, any_float, hostile_text)


def json_values(scalar=scalars, max_leaves: int = 12):
    """Any JSON value (lists and objects of anything), with hostile keys."""
    return st.recursive(
        scalar,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)),
        max_leaves=max_leaves,
    )


def depths(max_depth: int):
    """Nesting depths spread over every scale up to max_depth (as many between 512 and 1,024 as below 2)."""
    return st.integers(min_value=0, max_value=max_depth.bit_length()).flatmap(
        lambda bits: st.integers(min_value=(1 << bits) >> 1, max_value=min(max_depth, (1 << bits) - 1) or 0)
    )


def nested(value_strategy, max_depth: int = 600):
    """value_strategy wrapped in up to max_depth arrays/objects (encoders have depth limits: orjson 255).
    Deeper values are built as text (nested_json_bytes): Python's own recursion limit is 1,000."""

    def wrap(args):
        value, depth, as_object = args
        for _ in range(depth):
            value = {"k": value} if as_object else [value]
        return value

    return st.tuples(value_strategy, depths(max_depth), st.booleans()).map(wrap)


any_json = st.one_of(json_values(), nested(json_values(max_leaves=3)))


def objects_with(keys, *, values=any_json):
    """Objects that may hold any of these keys (each with any JSON value) and any other keys."""
    return st.builds(
        lambda known, other: {**other, **known},
        st.fixed_dictionaries({}, optional={key: values for key in keys}),
        st.dictionaries(hostile_text, values, max_size=2),
    )


def json_bytes(values):
    """The JSON text of a value, as a client would send it (Python's json writes NaN, big integers and
    lone surrogates as escapes: all things a decoder must refuse or take)."""
    return values.map(lambda value: json.dumps(value).encode("utf-8"))


def nested_json_bytes(inner, max_depth: int = 1100):
    """JSON text nested up to max_depth levels (decoders stop at 1,024 or at Python's recursion limit)."""

    def wrap(args):
        text, depth, as_object = args
        opening, closing = (b'{"k":', b"}") if as_object else (b"[", b"]")
        return opening * depth + text + closing * depth

    return st.tuples(inner, depths(max_depth), st.booleans()).map(wrap)


raw_bytes = st.one_of(
    st.binary(),
    json_bytes(any_json),
    nested_json_bytes(json_bytes(json_values(max_leaves=3))),
    nested_json_bytes(json_bytes(scalars)),
    st.lists(st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b"1", b"-", b"e", b"u",
                              b"\\ud800", b"\x00", b"\xff", b"\xed\xa0\x80", b"NaN", b" "]), max_size=40)
    .map(b"".join),
)
