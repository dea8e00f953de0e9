"""Test-wide fixtures. Factories live in tests/factories.py."""

import pytest

from tests.factories import make_datasource, make_token


@pytest.fixture
def datasource(db):
    return make_datasource(slug="web")


@pytest.fixture
def ingest_token(datasource):
    return make_token(datasource=datasource, scope="ingest")


@pytest.fixture
def purge_token(datasource):
    return make_token(datasource=datasource, scope="purge")
