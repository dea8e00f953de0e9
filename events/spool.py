"""The durable local spool: where ingest keeps a validated batch while the database cannot take it.

All spool files are written and read here; events.services decides when to spool
(events_ingest) and writes spooled batches back (events_spool_drain, the one drain service).

Contract:
- spool_append() writes one record with a single write() and fsyncs it (and, for a new segment
  file, its directory) before it returns: only then may the client be told its events are stored.
  It refuses with SpoolFull beyond settings.SPOOL_MAX_BYTES, leaving nothing half-written.
- A record is a header (magic, payload length, CRC32, received_at in µs, batch uuid) and a payload
  (orjson: datasource id, received_at, the parsed rows: everything needed to rerun the ingest).
  A record whose CRC does not match, or that ends early (the process died mid-append, power
  loss), is torn: it is skipped whole, never half-stored.
- Each process appends to its own segment file and holds an exclusive flock on it while it is
  open, so writers never share a file, and a drainer can tell a live segment (whose last record
  may still be in flight: wait) from a dead one (whose broken tail is torn: skip it).
- Drained offsets are kept beside each segment (`.done`); a fully drained dead segment is deleted.
  Losing an offset only makes the drain reread records it then finds in SpooledBatch.
"""

import contextlib
import fcntl
import heapq
import logging
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from django.conf import settings

from events.parsing import EventRow

logger = logging.getLogger(__name__)

MAGIC = b"EVS1"
# magic, payload length, CRC32 (of everything after it), received_at (µs since the epoch), batch uuid
HEADER = struct.Struct("<4sIIq16s")
CRC_FROM = 12
SEGMENT_SUFFIX = ".seg"
DONE_SUFFIX = ".done"
MAX_RECORD_BYTES = 256 * 1024 * 1024  # beyond any valid batch: a larger length is a broken header
_STATUS_FILE = "drain-status.json"
_DRAIN_LOCK_FILE = "drain.lock"


class SpoolFull(Exception):
    """The spool holds SPOOL_MAX_BYTES already: the batch was not written."""


def spool_dir() -> Path:
    return Path(settings.SPOOL_DIR)


# --- Records ------------------------------------------------------------------------------


def encode_record(*, batch: uuid.UUID, datasource_id: int, received_at: datetime, rows: list[EventRow]) -> bytes:
    payload = orjson.dumps({
        "datasource": datasource_id,
        "received_at": received_at.isoformat(),
        "rows": [
            [row.timestamp.isoformat(), row.payload_json.decode(), row.type, row.event_id, row.customer,
             row.product, row.identities]
            for row in rows
        ],
    })
    received_us = int(received_at.timestamp() * 1_000_000)
    tail = struct.pack("<q16s", received_us, batch.bytes) + payload
    return struct.pack("<4sII", MAGIC, len(payload), zlib.crc32(tail)) + tail


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    segment: Path
    offset: int
    end: int
    batch: uuid.UUID
    received_us: int
    payload: bytes

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.received_us / 1_000_000, UTC)

    def decode(self) -> tuple[int, datetime, list[EventRow]]:
        """(datasource id, received_at, rows) exactly as events_ingest had them."""
        data = orjson.loads(self.payload)
        rows = [
            EventRow(
                timestamp=datetime.fromisoformat(timestamp), payload=orjson.loads(payload_json),
                payload_json=payload_json.encode(), type=type_, event_id=event_id, customer=customer,
                product=product, identities=identities,
            )
            for timestamp, payload_json, type_, event_id, customer, product, identities in data["rows"]
        ]
        return data["datasource"], datetime.fromisoformat(data["received_at"]), rows


@dataclass(frozen=True, slots=True)
class TornRecord:
    """Bytes of a dead segment that are not a whole record; the scan resumes at `end`."""

    segment: Path
    offset: int
    end: int
    received_us: int  # of the record before it: keeps the merged stream in order


def _scan(path: Path, offset: int, *, live: bool) -> Iterator[SpooledRecord | TornRecord]:
    """The records of one segment from offset, in file order. In a live segment the scan stops at
    the first record that is not whole yet (its writer may be mid-append); in a dead one such
    bytes are torn: reported, and the scan resyncs at the next valid record, if any."""
    last_us = 0
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; the generator may be abandoned
    except FileNotFoundError:
        return
    with handle:
        size = os.fstat(handle.fileno()).st_size
        while offset < size:
            handle.seek(offset)
            record = _read_one(handle, path, offset)
            if record is not None:
                last_us = record.received_us
                yield record
                offset = record.end
                continue
            if live:
                return
            resume = _next_valid(handle, path, offset + 1, size)
            yield TornRecord(segment=path, offset=offset, end=resume, received_us=last_us)
            offset = resume


def _read_one(handle, path: Path, offset: int) -> SpooledRecord | None:
    head = handle.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    magic, length, crc, received_us, batch = HEADER.unpack(head)
    if magic != MAGIC or length > MAX_RECORD_BYTES:
        return None
    payload = handle.read(length)
    if len(payload) < length or zlib.crc32(payload, zlib.crc32(head[CRC_FROM:])) != crc:
        return None
    return SpooledRecord(
        segment=path, offset=offset, end=offset + HEADER.size + length, batch=uuid.UUID(bytes=batch),
        received_us=received_us, payload=payload,
    )


def _next_valid(handle, path: Path, start: int, size: int) -> int:
    """The offset of the next whole record after a torn one (a bit flip mid-file must not cost
    the records behind it), or the end of the segment."""
    handle.seek(start)
    data = handle.read()
    position = data.find(MAGIC)
    while position != -1:
        handle.seek(start + position)
        if _read_one(handle, path, start + position) is not None:
            return start + position
        position = data.find(MAGIC, position + 1)
    return size


# --- Appending ----------------------------------------------------------------------------


class _SegmentWriter:
    """This process's open segment. One lock serialises the threads of the process; other
    processes write their own files."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None
        self._size = 0

    @property
    def is_open(self) -> bool:
        return self._fd is not None and self._pid == os.getpid()

    def append(self, record: bytes) -> None:
        directory = spool_dir()
        with self._lock:
            if self._pid != os.getpid():  # a forked child must never write into its parent's file
                self._fd, self._size = None, 0
            if spool_bytes(directory) + len(record) > settings.SPOOL_MAX_BYTES:
                raise SpoolFull(f"the spool holds {settings.SPOOL_MAX_BYTES} bytes already")
            if self._fd is None or self._size + len(record) > settings.SPOOL_SEGMENT_BYTES:
                self._open_new(directory)
            try:
                written = os.write(self._fd, record)
                if written != len(record):
                    raise OSError(f"short write to the spool ({written} of {len(record)} bytes)")
                os.fdatasync(self._fd)
            except OSError:
                # Cut the segment back to its last whole record, so a full disk leaves no half
                # record behind (a crash mid-write is what the CRC is for).
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                    os.fdatasync(self._fd)
                raise
            self._size += len(record)

    def _open_new(self, directory: Path) -> None:
        self._close()
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}"
        temporary = directory / f"{name}.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        # Locked before it gets a name the drainer looks at: a drainer must never take a live
        # segment for a dead one (it would delete it under its writer).
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(temporary, directory / f"{name}{SEGMENT_SUFFIX}")
        _fsync_dir(directory)
        self._fd, self._pid, self._size = fd, os.getpid(), 0

    def seal(self) -> None:
        """Close the segment (the database is back): the drainer may then finish and delete it."""
        if not self.is_open:
            return
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)  # releases the flock
        self._fd, self._size = None, 0


_writer = _SegmentWriter()


def spool_append(*, batch: uuid.UUID, datasource_id: int, received_at: datetime, rows: list[EventRow]) -> None:
    """Write one batch durably (fsync) or raise SpoolFull / OSError having written nothing."""
    _writer.append(encode_record(batch=batch, datasource_id=datasource_id, received_at=received_at, rows=rows))


def spool_seal() -> None:
    """Called after a successful database write: cheap when this process spooled nothing."""
    if _writer.is_open:
        _writer.seal()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- Reading, for the drain and the status --------------------------------------------------


def segments(directory: Path | None = None) -> list[Path]:
    """Segment files, oldest first (names start with their creation time in ns)."""
    directory = directory or spool_dir()
    try:
        with os.scandir(directory) as entries:
            return sorted(Path(e.path) for e in entries if e.name.endswith(SEGMENT_SUFFIX))
    except FileNotFoundError:
        return []


def spool_bytes(directory: Path | None = None) -> int:
    total = 0
    for path in segments(directory):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


def spool_is_empty() -> bool:
    """The drain thread's cheap check: one directory listing."""
    return not segments()


def drained_offset(segment: Path) -> int:
    try:
        return int(segment.with_name(segment.name + DONE_SUFFIX).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def save_drained_offset(segment: Path, offset: int) -> None:
    # Not fsynced: a lost offset only means rereading records that SpooledBatch then skips.
    segment.with_name(segment.name + DONE_SUFFIX).write_text(str(offset))


def _try_lock(path: Path) -> int | None:
    """An fd holding the segment's flock if its writer is gone (the segment is dead), else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@dataclass
class SegmentView:
    path: Path
    lock_fd: int | None  # held while draining a dead segment, so it can be deleted safely

    @property
    def live(self) -> bool:
        return self.lock_fd is None


@contextlib.contextmanager
def drain_session():
    """Exclusive drain rights for this spool (None if another drainer holds them), with each
    segment marked live or dead; yields (views, merged stream of records in received order)."""
    directory = spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(directory / _DRAIN_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        _remove_abandoned_new_segments(directory)
        views = [SegmentView(path=path, lock_fd=_try_lock(path)) for path in segments(directory)]
        try:
            streams = [_scan(view.path, drained_offset(view.path), live=view.live) for view in views]
            yield views, heapq.merge(*streams, key=lambda item: item.received_us)
        finally:
            for view in views:
                if view.lock_fd is not None:
                    os.close(view.lock_fd)
    finally:
        os.close(lock_fd)  # releases the drain lock


def _remove_abandoned_new_segments(directory: Path) -> None:
    """A process killed between creating a segment and naming it leaves an empty `.new` file: it
    holds no record (nothing is appended before the rename). Removed once old and unlocked."""
    for path in directory.glob("*.new"):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - path.stat().st_mtime < 60:
                continue
            fd = _try_lock(path)
            if fd is not None:
                try:
                    path.unlink()
                finally:
                    os.close(fd)


def remove_if_drained(view: SegmentView) -> bool:
    """Delete a dead segment whose every byte is drained (or torn)."""
    if view.live:
        return False
    try:
        size = view.path.stat().st_size
    except FileNotFoundError:
        return True
    if drained_offset(view.path) < size:
        return False
    view.path.unlink()
    with contextlib.suppress(FileNotFoundError):
        view.path.with_name(view.path.name + DONE_SUFFIX).unlink()
    _fsync_dir(view.path.parent)
    return True


def save_drain_status(status: dict) -> None:
    path = spool_dir() / _STATUS_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(orjson.dumps(status))
    os.replace(temporary, path)


def load_drain_status() -> dict:
    try:
        return orjson.loads((spool_dir() / _STATUS_FILE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}


def _headers(path: Path, offset: int) -> Iterator[int]:
    """received_us of each whole-looking record from offset, reading headers only (the status
    must stay cheap with a large spool; the drain checks CRCs)."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        while offset + HEADER.size <= size:
            handle.seek(offset)
            magic, length, _crc, received_us, _batch = HEADER.unpack(handle.read(HEADER.size))
            if magic != MAGIC or offset + HEADER.size + length > size:
                return
            yield received_us
            offset += HEADER.size + length


def spool_status() -> dict:
    """What the health panel and the metrics show: the spool's size, how many batches wait, how
    old the oldest is, and the last drain (time and progress)."""
    records = 0
    oldest_us = None
    size = 0
    for path in segments():
        with contextlib.suppress(FileNotFoundError):
            size += path.stat().st_size
        for received_us in _headers(path, drained_offset(path)):
            records += 1
            oldest_us = received_us if oldest_us is None else min(oldest_us, received_us)
    drain = load_drain_status()
    oldest_age = max(0.0, time.time() - oldest_us / 1_000_000) if oldest_us is not None else None
    return {
        "bytes": size,
        "max_bytes": settings.SPOOL_MAX_BYTES,
        "records": records,
        "oldest_record_age_seconds": round(oldest_age, 3) if oldest_age is not None else None,
        # A spool older than this means the drain is not keeping up or cannot reach the database.
        "warning": oldest_age is not None and oldest_age > settings.SPOOL_WARN_AGE_SECONDS,
        "last_drain_at": drain.get("finished_at"),
        "last_drain": drain,
    }
