"""Test-wide fixtures. Factories live in tests/factories.py."""

import pytest

from events.spool import spool_seal
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
def _fresh_rate_limits(settings):
    # Failed-auth counters are keyed by namespace: a fresh one per test, without flushing
    # a cache that the Redis-backed run shares with the broker.
    import uuid

    settings.RATELIMIT_NAMESPACE = f"test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _no_console_flusher_thread(settings):
    # Rejected-request counts are flushed by a background thread in servers; in-process tests
    # flush explicitly (a thread writing to the test database at random moments would race them).
    settings.CONSOLE_FLUSH_SECONDS = 0


@pytest.fixture(autouse=True)
def _private_spool(settings, tmp_path_factory):
    # Each test gets its own spool directory: nothing spooled by one test drains into another.
    spool_seal()  # a segment this process left open belongs to the previous test's directory
    settings.SPOOL_DIR = tmp_path_factory.mktemp("spool")
    settings.VERIFIED_DIR = tmp_path_factory.mktemp("verified")  # what "this host" verified: per test
    yield
    spool_seal()
