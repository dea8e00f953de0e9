"""purge_dataset and concurrent ingest batches order themselves through the datasource's epoch
lock (PostgreSQL): a batch in flight when the purge starts is purged with it, and a batch that
starts while the purge holds the lock lands in the new epoch and stays visible."""

import threading
import uuid

import pytest
from django.db import connections, transaction
from django.utils import timezone

from events.models import Event
from events.parsing import IngestLimits, ksense_rows
from events.selectors import events_of_datasource
from events.services import _current_epoch, _write_replacing_event_ids, events_ingest, events_purge_dataset_begin
from tests.factories import make_datasource
from tests.services import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres]
WAIT = 10  # seconds a blocked thread is given; the tests end as soon as it finishes


def rows(count: int, *, with_ids: bool = False):
    events = [{"type": "pv", **({"event_id": f"e-{n}"} if with_ids else {})} for n in range(count)]
    return ksense_rows(events, limits=IngestLimits.from_settings(), now=timezone.now())


def in_thread(target) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = target()
        except Exception as error:  # noqa: BLE001 - reported to the test
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_it_purges_a_batch_that_was_in_flight_when_the_purge_began(transactional_db):
    datasource = make_datasource(slug="ordering")
    epoch_read, release = threading.Event(), threading.Event()

    def slow_batch():
        with transaction.atomic():
            epoch = _current_epoch(datasource)  # takes the epoch lock shared
            epoch_read.set()
            release.wait(WAIT)
            Event.objects.create(datasource=datasource, epoch=epoch, batch="00000000-0000-0000-0000-000000000001",
                                 sequence=0, received_at=timezone.now(), timestamp=timezone.now(), type="slow",
                                 payload={})
        return epoch

    batch_thread, batch = in_thread(slow_batch)
    assert epoch_read.wait(WAIT)
    purge_thread, purge = in_thread(lambda: events_purge_dataset_begin(datasource=datasource))
    purge_thread.join(0.5)
    assert purge_thread.is_alive()  # the purge waits for the batch in flight
    release.set()
    batch_thread.join(WAIT)
    purge_thread.join(WAIT)
    assert "error" not in batch and "error" not in purge
    datasource.refresh_from_db()
    assert batch["value"] == datasource.epoch - 1
    assert Event.objects.filter(datasource=datasource, type="slow").count() == 1  # stored, in the old epoch
    assert events_of_datasource(datasource=datasource).count() == 0  # and purged with it


@pytest.mark.parametrize("with_ids", [False, True], ids=["one-statement insert", "COPY with replacement"])
def test_a_batch_started_during_a_purge_lands_in_the_new_epoch(transactional_db, with_ids):
    datasource = make_datasource(slug="ordering")
    batch_rows = rows(3, with_ids=with_ids)
    with transaction.atomic():
        events_purge_dataset_begin(datasource=datasource)  # holds the epoch lock until this block commits
        ingest_thread, ingest = in_thread(
            lambda: events_ingest(datasource=datasource, rows=batch_rows) if not with_ids
            else _write_replacing_event_ids(datasource, uuid.uuid4(), timezone.now(), batch_rows))
        ingest_thread.join(0.5)
        assert ingest_thread.is_alive()  # the batch waits for the purge to commit
    ingest_thread.join(WAIT)
    assert "error" not in ingest, ingest.get("error")
    datasource.refresh_from_db()
    assert datasource.epoch == 1
    assert events_of_datasource(datasource=datasource).count() == 3  # visible: written to the new epoch
