"""Test-wide fixtures and Hypothesis profiles. Factories live in tests/factories.py."""

import os

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from events.spool import spool_seal
from tests.factories import make_datasource, make_token
from tests.logins import console_login
from tokens.cache import token_cache

CI_EXAMPLES = 200
FUZZ_EXAMPLES = 20_000

# Property tests (`*_properties.py`): `ci` runs in make test; `make fuzz` selects `fuzz` with
# EVENTSITE_HYPOTHESIS_PROFILE. No deadline: the machine is shared, and timing is not what they check.
hypothesis_settings.register_profile(
    "ci", max_examples=CI_EXAMPLES, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hypothesis_settings.register_profile("fuzz", parent=hypothesis_settings.get_profile("ci"), max_examples=FUZZ_EXAMPLES)
hypothesis_settings.load_profile(os.environ.get("EVENTSITE_HYPOTHESIS_PROFILE", "ci"))
if os.environ.get("EVENTSITE_HYPOTHESIS_EXAMPLES"):  # e.g. make fuzz PROPERTY_EXAMPLES=100000
    hypothesis_settings.register_profile("chosen", parent=hypothesis_settings.default,
                                         max_examples=int(os.environ["EVENTSITE_HYPOTHESIS_EXAMPLES"]))
    hypothesis_settings.load_profile("chosen")


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


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's admin_client, signed in the way the console requires: with the second factor."""
    console_login(client, admin_user)
    return client
