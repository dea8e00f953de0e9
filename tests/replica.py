"""The streaming replica for tests (bench/pgreplica.py builds it) and Django's "replica" alias.

`replica_alias(replica)` registers it as Django's "replica" alias (a test mirror of "default": the
same test database, never flushed or created by the test runner) for the duration.
"""

import copy
import os
from contextlib import contextmanager

import pytest
from django.db import connections

from bench.pgreplica import StreamingReplica, as_postgres, pg_bin

REPLICATION_OPT_IN = "EVENTSITE_REPLICA_TESTS"

requires_streaming_replica = pytest.mark.skipif(
    os.environ.get(REPLICATION_OPT_IN) != "1" or as_postgres() is None or pg_bin() is None,
    reason=f"builds a streaming replica with pg_basebackup of the test PostgreSQL: set {REPLICATION_OPT_IN}=1 "
           "(CI's PostgreSQL pass does), as root or postgres, with /usr/lib/postgresql/<ver>/bin/pg_basebackup",
)


@contextmanager
def replica_alias(replica: StreamingReplica | None = None, *, port: int | None = None):
    """Django's "replica" alias pointing at the streaming replica (or at a port), as
    DATABASE_REPLICA_URL would."""
    settings = copy.deepcopy(connections["default"].settings_dict)
    settings.update(HOST="127.0.0.1", PORT=str(replica.port if replica else port),
                    TEST={**settings.get("TEST", {}), "MIRROR": "default"})
    settings["OPTIONS"] = {**settings.get("OPTIONS", {}), "connect_timeout": 2,
                           "application_name": "eventsite-replica-reads"}
    connections.settings["replica"] = settings
    try:
        yield
    finally:
        connections["replica"].close()
        del connections["replica"]
        del connections.settings["replica"]
