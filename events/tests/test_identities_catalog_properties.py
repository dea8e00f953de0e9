"""Property tests: identity normalisation/hashing and the catalog import are total (a result, or a DomainError)."""

import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from events.catalog import catalog_cache_clear, catalog_for, catalog_import
from events.identities import identity_digest, normalize_identity_value
from events.models import IDENTITY_TYPES, CatalogEventType
from tests.properties import outcome
from tests.strategies import any_json, hostile_text

pytestmark = pytest.mark.properties

HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
kinds = st.one_of(st.sampled_from(IDENTITY_TYPES), hostile_text)


@settings(max_examples=settings.default.max_examples * 5)  # cheap; lone surrogates are a small corner
@given(kinds, st.one_of(any_json, hostile_text))
def test_an_identity_digest_is_none_a_sha256_or_a_domain_error(kind, value):
    digest = outcome(identity_digest, kind, value)
    assert digest is None or HEX_DIGEST.fullmatch(digest)
    if digest is not None:  # a pre-hashed value meets the raw one
        assert identity_digest(kind, f"hash1:{digest}") == digest


@given(st.sampled_from(IDENTITY_TYPES), hostile_text)
def test_normalisation_gives_text_or_a_domain_error(kind, value):
    normalised = outcome(normalize_identity_value, kind, value)
    assert normalised is None or isinstance(normalised, str)


codes = st.one_of(st.sampled_from(["TGAM", "WEB", "pv"]), hostile_text)
sometimes_anything = st.one_of(codes, any_json)


@st.composite
def catalog_documents(draw):
    """Mostly well-formed catalogs whose every field may hold anything (else nothing reaches the database)."""

    def item(**fields):
        chosen = {key: draw(st.one_of(value, any_json)) if draw(st.booleans()) else draw(value)
                  for key, value in fields.items() if draw(st.integers(0, 9))}
        return chosen

    customers = [item(code=codes, description=codes) for _ in range(draw(st.integers(0, 3)))]
    products = [item(code=codes, description=codes) for _ in range(draw(st.integers(0, 3)))]
    product_codes = [p.get("code") for p in products if isinstance(p.get("code"), str)] or ["none"]
    keys = st.lists(st.one_of(st.just("userId"), codes), max_size=4)
    types = []
    for _ in range(draw(st.integers(0, 3))):
        context_keys = draw(keys)
        rules = st.dictionaries(codes, st.lists(st.sampled_from(["string", "uuid", "stringOptional", None]),
                                                min_size=len(context_keys), max_size=len(context_keys)), max_size=2)
        types.append(item(code=codes, description=codes, product=st.sampled_from(product_codes),
                          contextKeys=st.just(context_keys), contextRules=rules))
    document = {"customers": customers, "products": products, "eventTypes": types}
    return draw(st.one_of(st.just(document), any_json, st.just({**document, **draw(st.dictionaries(
        st.sampled_from(["customers", "products", "eventTypes"]), any_json))})))


@pytest.mark.django_db
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(document=catalog_documents())
def test_a_catalog_import_stores_a_usable_catalog_or_a_domain_error(datasource, document):
    counts = outcome(catalog_import, datasource=datasource, document=document)
    if counts is None:
        return
    assert CatalogEventType.objects.filter(datasource=datasource).count() == counts["event_types"]
    catalog_cache_clear()
    catalog = catalog_for(datasource=datasource)
    assert (catalog is None) == (counts["event_types"] == 0)
    event("stored")
