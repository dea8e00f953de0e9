import hashlib

import pytest

from events.identities import identity_digest
from eventsite.lib.errors import InvalidInput


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "kind, value, normalised",
    [
        ("email", "  Ann@Example.COM ", "ann@example.com"),
        ("phone", "+1 (555) 123-4567", "+15551234567"),
        ("phone", "15551234567", "+15551234567"),
        ("idfa", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
        ("gaid", "38400000-8CF0-11BD-B23E-10B96E40000D", "38400000-8cf0-11bd-b23e-10b96e40000d"),
        ("internal_id", "User-42", "User-42"),
        ("internal_id", 42, "42"),
        ("anonymous_id", "a-1", "a-1"),
    ],
)
def test_it_hashes_the_normalised_value(kind, value, normalised):
    assert identity_digest(kind, value) == sha(normalised)


def test_a_hash1_value_is_taken_as_the_digest():
    digest = sha("ann@example.com")
    assert identity_digest("email", f"hash1:{digest.upper()}") == digest
    assert identity_digest("email", "ANN@example.com") == digest


@pytest.mark.parametrize("value", [None, ""])
def test_an_absent_identity_has_no_digest(value):
    assert identity_digest("email", value) is None


@pytest.mark.parametrize("kind, value", [("email", 5), ("phone", True), ("email", "hash1:zz"), ("nickname", "x"),
                                         ("phone", "no digits"), ("email", "x" * 513), ("internal_id", 1.5)])
def test_it_rejects_malformed_identities(kind, value):
    with pytest.raises(InvalidInput):
        identity_digest(kind, value)


def test_a_lone_surrogate_is_a_domain_error_not_a_unicode_error():
    # found by the property tests: hashing encoded the text and raised UnicodeEncodeError
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        identity_digest("email", "a\ud800@example.com")
