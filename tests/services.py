"""Which real services this test run has; production-path tests need them."""

import os

import pytest

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")

requires_postgres = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="production path: set DATABASE_URL to a PostgreSQL URL (CI does)",
)
requires_redis = pytest.mark.skipif(not REDIS_URL, reason="production path: set REDIS_URL (CI does)")
