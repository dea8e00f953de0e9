"""Group commit (PostgreSQL): concurrent small batches of one process share one INSERT, each is
acknowledged after its commit, and a bad batch never fails its neighbours."""

import dataclasses
import threading
import uuid

import pytest
from django.db import DataError, connections
from django.utils import timezone

from events import groupcommit
from events.models import Event
from events.parsing import IngestLimits, ksense_rows
from events.selectors import events_of_datasource
from eventsite.lib.errors import InvalidInput
from tests.factories import make_datasource
from tests.services import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres]
WAIT = 10


def one_event(kind: str):
    rows = ksense_rows([{"type": kind[:200]}], limits=IngestLimits.from_settings(), now=timezone.now())
    return [dataclasses.replace(row, type=kind) for row in rows]  # past parsing, as a test may


def write_in_thread(committer, datasource, kind: str, outcomes: dict):
    def run():
        try:
            committer.write(datasource=datasource, batch=uuid.uuid4(), received_at=timezone.now(),
                            rows=one_event(kind))
            outcomes[kind] = "stored"
        except Exception as error:  # noqa: BLE001 - reported to the test
            outcomes[kind] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_until_queued(committer, count: int) -> None:
    for _ in range(200):
        if len(committer._queue) == count:
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"{len(committer._queue)} batches queued, not {count}")


@pytest.fixture
def held_first_group(monkeypatch):
    """The first group's INSERT waits until released, so the writers behind it queue up; every
    group size written is recorded (the real statement still runs)."""
    real_insert, sizes = groupcommit.insert_batches, []
    first_entered, release = threading.Event(), threading.Event()

    def insert(batches):
        sizes.append(len(batches))
        if len(sizes) == 1:
            first_entered.set()
            release.wait(WAIT)
        return real_insert(batches)

    monkeypatch.setattr(groupcommit, "insert_batches", insert)
    return sizes, first_entered, release


def test_waiting_batches_go_in_together_and_all_are_stored(transactional_db, held_first_group):
    sizes, first_entered, release = held_first_group
    datasource = make_datasource(slug="group")
    committer, outcomes = groupcommit.GroupCommitter(), {}
    first = write_in_thread(committer, datasource, "first", outcomes)
    assert first_entered.wait(WAIT)
    others = [write_in_thread(committer, datasource, f"e{n}", outcomes) for n in range(6)]
    wait_until_queued(committer, 6)
    assert outcomes == {}  # nobody is acknowledged before its statement commits
    release.set()
    for thread in [first, *others]:
        thread.join(WAIT)
    assert set(outcomes.values()) == {"stored"} and len(outcomes) == 7
    assert sizes == [1, 6]  # the six that waited shared one statement
    assert events_of_datasource(datasource=datasource).count() == 7


def test_a_batch_that_cannot_be_stored_does_not_fail_its_group(transactional_db, held_first_group):
    sizes, first_entered, release = held_first_group
    datasource = make_datasource(slug="group")
    doomed = make_datasource(slug="doomed")
    committer, outcomes = groupcommit.GroupCommitter(), {}
    first = write_in_thread(committer, datasource, "first", outcomes)
    assert first_entered.wait(WAIT)
    doomed_id = doomed.pk
    doomed.delete()  # its batch will find no datasource row
    doomed.pk = doomed_id
    writers = [write_in_thread(committer, datasource, "good-1", outcomes),
               write_in_thread(committer, doomed, "bad", outcomes),
               write_in_thread(committer, datasource, "good-2", outcomes)]
    wait_until_queued(committer, 3)
    release.set()
    for thread in [first, *writers]:
        thread.join(WAIT)
    assert isinstance(outcomes.pop("bad"), InvalidInput)
    assert set(outcomes.values()) == {"stored"} and len(outcomes) == 3
    assert sorted(Event.objects.values_list("type", flat=True)) == ["first", "good-1", "good-2"]


def test_a_value_the_database_refuses_fails_only_its_own_batch(transactional_db, held_first_group):
    sizes, first_entered, release = held_first_group
    datasource = make_datasource(slug="group")
    committer, outcomes = groupcommit.GroupCommitter(), {}
    first = write_in_thread(committer, datasource, "first", outcomes)
    assert first_entered.wait(WAIT)
    too_long = "t" * 300  # events_event.type is varchar(200); parsing never lets this through
    writers = [write_in_thread(committer, datasource, "good-1", outcomes),
               write_in_thread(committer, datasource, too_long, outcomes),
               write_in_thread(committer, datasource, "good-2", outcomes)]
    wait_until_queued(committer, 3)
    release.set()
    for thread in [first, *writers]:
        thread.join(WAIT)
    assert isinstance(outcomes.pop(too_long), DataError)
    assert set(outcomes.values()) == {"stored"} and len(outcomes) == 3
    assert sizes[:2] == [1, 3]  # the group of three failed as one statement, then each went alone
    assert sorted(Event.objects.values_list("type", flat=True)) == ["first", "good-1", "good-2"]


def test_a_group_holds_one_datasource_and_the_others_follow_in_order(transactional_db, held_first_group):
    sizes, first_entered, release = held_first_group
    web, app = make_datasource(slug="group"), make_datasource(slug="app")
    committer, outcomes = groupcommit.GroupCommitter(), {}
    first = write_in_thread(committer, web, "first", outcomes)
    assert first_entered.wait(WAIT)
    writers = []
    for n, datasource in enumerate([web, app, web, app, web]):
        writers.append(write_in_thread(committer, datasource, f"{datasource.slug}-{n}", outcomes))
        wait_until_queued(committer, n + 1)  # queued in this order
    release.set()
    for thread in [first, *writers]:
        thread.join(WAIT)
    assert set(outcomes.values()) == {"stored"} and len(outcomes) == 6
    assert sizes == [1, 3, 2]  # the three web batches together, then the two app batches
    assert events_of_datasource(datasource=web).count() == 4 and events_of_datasource(datasource=app).count() == 2
