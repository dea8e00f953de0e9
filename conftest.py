"""Test-wide fixtures. Factories live in tests/factories.py."""

import pytest
from django.core.cache import cache

from eventsite.lib import ratelimit
from tests.factories import make_datasource, make_token
from tokens.cache import token_cache


@pytest.fixture
def datasource(db):
    return make_datasource(slug="web")


@pytest.fixture
def ingest_token(datasource):
    return make_token(datasource=datasource, scope="ingest")


@pytest.fixture
def purge_token(datasource):
    return make_token(datasource=datasource, scope="purge")


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    # Tokens are cached per process; each test starts from the database's truth.
    token_cache.clear()
    yield
    token_cache.clear()


@pytest.fixture(autouse=True)
def _fresh_auth_limiter():
    # Failed-auth counts (per client IP, in the cache) must not carry over between tests.
    cache.clear()
    ratelimit.reset()
    yield
    ratelimit.reset()
