"""The replica router and the purge fence without a streaming replica (tests/test_replica.py has
the real one): what is routed where, a replica that refuses connections, the fence a purge raises."""

import csv

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, router

from bench.soak import free_port
from events.models import DataSource, Event, ReplicaFence
from eventsite.lib.replica import REPLICA, replica_forget_failures, replica_reads, replica_status
from reports import storage
from reports.models import ReportJob
from reports.purges import Actor, purge_dataset, purge_user
from reports.services import report_job_run
from reports.tests.test_reports_api import barchart_event, ingest
from tests.replica import replica_alias
from tests.services import requires_postgres
from tokens.models import Token


def test_without_a_replica_everything_reads_the_primary(db):
    with replica_reads() as alias:
        assert alias == DEFAULT_DB_ALIAS
        assert Event.objects.all().db == DEFAULT_DB_ALIAS
    assert replica_status().configured is False


def test_the_router_sends_no_write_anywhere_but_the_primary():
    assert router.db_for_write(Event) == DEFAULT_DB_ALIAS
    assert router.db_for_write(DataSource) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "events") is False


@pytest.fixture(scope="module")
def replica_settings(django_db_setup, django_db_blocker):
    """A "replica" alias; each test points it somewhere (see point_replica_at)."""
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        pytest.skip("production path: set DATABASE_URL to a PostgreSQL URL (CI does)")
    with django_db_blocker.unblock(), replica_alias(port=int(connections["default"].settings_dict["PORT"] or 5432)):
        yield connections.settings[REPLICA]


@pytest.fixture
def point_replica_at(replica_settings):
    def point(port: int) -> None:
        connections[REPLICA].close()
        replica_settings["PORT"] = str(port)
        replica_forget_failures()
    yield point
    connections[REPLICA].close()
    replica_forget_failures()


@pytest.mark.usefixtures("replica_settings")
class TestRouting:
    pytestmark = [requires_postgres, pytest.mark.postgres,
                  pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])]

    def test_inside_replica_reads_only_event_reads_go_to_the_replica(self, point_replica_at):
        # The "replica" here is the primary itself (not in recovery): only routing is under test.
        point_replica_at(int(connections["default"].settings_dict["PORT"] or 5432))
        with replica_reads() as alias:
            assert alias == REPLICA
            assert Event.objects.all().db == REPLICA
            assert DataSource.objects.all().db == REPLICA
            assert ReportJob.objects.all().db == DEFAULT_DB_ALIAS  # jobs, tokens, users: the primary
            assert Token.objects.all().db == DEFAULT_DB_ALIAS
            assert router.db_for_write(Event) == DEFAULT_DB_ALIAS
        assert Event.objects.all().db == DEFAULT_DB_ALIAS  # outside the block

    @pytest.mark.parametrize("fallback", ["primary", "wait"])
    def test_a_replica_that_refuses_connections_means_the_primary(self, point_replica_at, client, ingest_token,
                                                                  settings, fallback):
        settings.REPLICA_FALLBACK = fallback  # waiting is for a lagging replica, not a missing one
        point_replica_at(free_port(from_the_top=True))  # nothing listens there
        ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
        job = ReportJob.objects.create(customer="TGAM", product="WATCHLIST", delimiter="|")
        assert report_job_run(job_id=str(job.id)) == ReportJob.Status.COMPLETE
        job.refresh_from_db()
        with storage.local_path(key=job.file_key).open(newline="", encoding="utf-8") as handle:
            assert len(list(csv.reader(handle, delimiter="|"))) == 3  # header + both events
        status = replica_status()
        assert (status.configured, status.reachable) == (True, False)
        assert status.error.startswith("replica:")
        with replica_reads() as alias:
            assert alias == DEFAULT_DB_ALIAS

    def test_every_purge_raises_the_fence_generation_and_its_wal_position(self, datasource):
        before = ReplicaFence.objects.filter(pk=1).first()
        purge_user(datasource=datasource, kind="email", user_id="ann@example.com", actor=Actor(label="test"))
        first = ReplicaFence.objects.get(pk=1)
        purge_dataset(datasource=datasource, actor=Actor(label="test"))
        second = ReplicaFence.objects.get(pk=1)
        assert first.generation == (before.generation if before else 0) + 1
        assert second.generation == first.generation + 1
        assert 0 < first.lsn < second.lsn
