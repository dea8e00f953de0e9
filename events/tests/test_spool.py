"""The spool's files (events/spool.py): records written whole and read back exactly, torn records
detected and skipped, the size bound, and several processes appending at once. No database."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from events import spool
from events.parsing import EventRow

ROOT = Path(__file__).resolve().parents[2]


def make_rows(count: int, *, prefix: str = "e") -> list[EventRow]:
    rows = []
    for n in range(count):
        payload = {"event_id": f"{prefix}-{n}", "type": "pv", "nested": {"tab": "a\tb", "uni": "é\u2028"}}
        rows.append(EventRow(
            timestamp=datetime(2026, 11, 24, 10, 0, n % 60, tzinfo=UTC), payload=payload,
            payload_json=orjson.dumps(payload), type="pv", event_id=f"{prefix}-{n}", customer="TGAM",
            product=None, identities={"email": f"{n:064x}"},
        ))
    return rows


def drain_stream() -> list:
    with spool.drain_session() as session:
        _views, records = session
        return list(records)


def append_in_a_child(spool_dir: Path, batches: int, events: int = 3) -> None:
    """Append from another process, which then exits: its segment is dead (flock released)."""
    code = (
        "import django, os, uuid; from datetime import datetime, UTC; django.setup();"
        "from events.spool import spool_append; from events.tests.test_spool import make_rows;"
        f"[spool_append(batch=uuid.uuid4(), datasource_id=7, received_at=datetime.now(UTC), "
        f"rows=make_rows({events}, prefix=f'p{{os.getpid()}}-{{i}}')) for i in range({batches})]"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "eventsite.settings", "SPOOL_DIR": str(spool_dir),
           "EVENTSITE_TESTING": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, timeout=120)


@pytest.fixture
def spool_dir(settings):
    return Path(settings.SPOOL_DIR)  # each test's own (conftest)


def test_it_reads_back_exactly_what_was_appended(spool_dir):
    batch, received_at, rows = uuid.uuid4(), datetime(2026, 11, 24, 10, 0, 1, 123456, tzinfo=UTC), make_rows(5)
    spool.spool_append(batch=batch, datasource_id=42, received_at=received_at, rows=rows)
    spool.spool_seal()
    [record] = drain_stream()
    assert record.batch == batch
    assert record.decode() == (42, received_at, rows)
    assert len(spool.segments()) == 1


def test_it_reads_complete_records_of_a_live_segment_and_waits_for_its_unfinished_tail(spool_dir):
    spool.spool_append(batch=uuid.uuid4(), datasource_id=1, received_at=datetime.now(UTC), rows=make_rows(2))
    [segment] = spool.segments()
    with open(segment, "ab") as handle:  # a record whose writer (this live process) is mid-append
        handle.write(spool.encode_record(batch=uuid.uuid4(), datasource_id=1, received_at=datetime.now(UTC),
                                         rows=make_rows(1))[:20])
    items = drain_stream()
    assert [type(item) for item in items] == [spool.SpooledRecord]  # no torn record reported: it may finish
    assert spool.spool_status()["records"] == 1


def test_it_skips_a_torn_tail_and_a_corrupt_record_of_a_dead_segment_whole(spool_dir):
    append_in_a_child(spool_dir, batches=4)
    [segment] = spool.segments()
    data = bytearray(segment.read_bytes())
    records = drain_stream()
    assert len(records) == 4
    data[records[1].offset + spool.HEADER.size + 5] ^= 0xFF  # a flipped bit in the second record's payload
    segment.write_bytes(bytes(data[: records[3].end - 7]))  # power loss in the middle of the last one
    items = drain_stream()
    kinds = [type(item).__name__ for item in items]
    assert kinds == ["SpooledRecord", "TornRecord", "SpooledRecord", "TornRecord"]
    assert [item.batch for item in items if isinstance(item, spool.SpooledRecord)] == [
        records[0].batch, records[2].batch
    ]
    assert items[-1].end == records[3].end - 7  # the scan resumes after the torn bytes: nothing is left


def test_it_refuses_a_batch_beyond_the_size_bound_and_writes_nothing(spool_dir, settings):
    record_size = len(spool.encode_record(batch=uuid.uuid4(), datasource_id=1, received_at=datetime.now(UTC),
                                          rows=make_rows(10)))
    settings.SPOOL_MAX_BYTES = record_size * 2 + 10
    for _ in range(2):
        spool.spool_append(batch=uuid.uuid4(), datasource_id=1, received_at=datetime.now(UTC), rows=make_rows(10))
    before = spool.spool_bytes()
    with pytest.raises(spool.SpoolFull):
        spool.spool_append(batch=uuid.uuid4(), datasource_id=1, received_at=datetime.now(UTC), rows=make_rows(10))
    assert spool.spool_bytes() == before == record_size * 2
    assert len(drain_stream()) == 2


def test_it_keeps_every_record_whole_when_processes_append_at_once(spool_dir):
    code = (
        "import django, os, uuid; from datetime import datetime, UTC; django.setup();"
        "from events.spool import spool_append; from events.tests.test_spool import make_rows;"
        "[spool_append(batch=uuid.uuid4(), datasource_id=1, received_at=datetime.now(UTC), "
        "rows=make_rows(1 + i % 7, prefix=f'{os.getpid()}-{i}')) for i in range(150)]"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "eventsite.settings", "SPOOL_DIR": str(spool_dir),
           "EVENTSITE_TESTING": "1", "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT) for _ in range(4)]
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0, 0]
    items = drain_stream()
    assert all(isinstance(item, spool.SpooledRecord) for item in items)
    assert len(items) == 600 and len({item.batch for item in items}) == 600
    assert sum(len(item.decode()[2]) for item in items) == 4 * sum(1 + i % 7 for i in range(150))
    assert len(spool.segments()) == 4  # one segment per process
    received = [item.received_us for item in items]
    assert received == sorted(received)  # merged in received order across the segments


def test_it_reports_size_count_and_age(spool_dir):
    assert spool.spool_status()["records"] == 0
    spool.spool_append(batch=uuid.uuid4(), datasource_id=1, received_at=datetime(2026, 1, 1, tzinfo=UTC),
                       rows=make_rows(3))
    status = spool.spool_status()
    assert status["records"] == 1
    assert status["bytes"] == spool.spool_bytes() > 0
    assert status["oldest_record_age_seconds"] > 3600
    assert status["warning"] is True


def test_it_removes_an_abandoned_unnamed_segment(spool_dir):
    spool_dir.mkdir(parents=True, exist_ok=True)
    abandoned = spool_dir / "00000000000000000001-1.new"  # its process died before naming it
    abandoned.write_bytes(b"")
    os.utime(abandoned, (0, 0))
    assert drain_stream() == []
    assert not abandoned.exists()
