"""Group commit for small batches: concurrent requests of one web process share one INSERT.

Single events are most of the ingest traffic, and each used to cost one committed statement of
its own. Here a request that finds no write in progress writes its batch at once (no added
wait); requests that arrive while a write is in progress queue up and go in together, as one
INSERT (one implicit transaction, one commit), written by the first of them. Every request is
acknowledged only after the statement holding its rows has committed.

A statement holds the batches of one datasource. It can fail for one batch alone (a value the
database refuses): the group is then written again batch by batch, so one bad batch never fails
its neighbours. An outage fails every batch of the group, as it would have failed each alone.

Only batches without client event_ids are grouped (PostgreSQL, outside a transaction): those
with ids replace earlier events and go through COPY in a transaction of their own.
"""

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, InterfaceError, OperationalError, connection

from events.models import IDENTITY_TYPES, DataSource, Event
from events.parsing import EventRow
from eventsite.lib.errors import InvalidInput

EPOCH_LOCK_NAMESPACE = 0x65706F63  # "epoc"; see events.services, where purge_dataset takes it exclusively
EPOCH_LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared(%s, %s)"
MAX_GROUP_ROWS = 500
_VALUE_COLUMNS = ("event_id", "batch", "sequence", "received_at", "timestamp", "type", "customer", "product",
                  *(f"user_{kind}" for kind in IDENTITY_TYPES), "payload")
_VALUES_ROW = "(%s::int, %s, %s::uuid, %s, %s::timestamptz, %s::timestamptz, %s, %s, %s, " + ", ".join(
    ["%s"] * len(IDENTITY_TYPES)
) + ", %s::jsonb)"


def epoch_lock_key(datasource_id: int) -> list[int]:
    return [EPOCH_LOCK_NAMESPACE, datasource_id & 0x7FFFFFFF]


@dataclass(eq=False)
class PendingBatch:
    datasource: DataSource
    batch: uuid.UUID
    received_at: datetime
    rows: list[EventRow]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next group itself
    error: BaseException | None = None


def insert_batches(batches: list[PendingBatch]) -> bool:
    """Write batches of one datasource in one query string: the datasource's epoch lock, shared,
    then one INSERT ... SELECT that takes the epoch from the datasource row. PostgreSQL runs it as
    one implicit transaction; the INSERT is a statement of its own so that its snapshot is taken
    after the lock is granted (it sees the epoch of a purge that committed while the batch waited).
    The datasource is named by an equality: on a distributed PostgreSQL (Citus, by datasource_id)
    the insert is a single-shard router query.

    Returns False if the datasource no longer exists (nothing was written).
    """
    datasource_id = batches[0].datasource.pk
    assert all(pending.datasource.pk == datasource_id for pending in batches), "one datasource a statement"
    params: list = epoch_lock_key(datasource_id)
    values = []
    for pending in batches:
        for sequence, row in enumerate(pending.rows):
            params += [len(values), row.event_id, str(pending.batch), sequence, pending.received_at, row.timestamp,
                       row.type, row.customer, row.product]
            params += [row.identities.get(kind) for kind in IDENTITY_TYPES]
            params.append(row.payload_json.decode())
            values.append(_VALUES_ROW)
    params.append(datasource_id)
    sql = (
        f"{EPOCH_LOCK_SHARED}; "
        f"INSERT INTO {Event._meta.db_table} (datasource_id, epoch, {', '.join(_VALUE_COLUMNS)}) "
        f"SELECT ds.id, ds.epoch, {', '.join(f'v.{column}' for column in _VALUE_COLUMNS)} "
        f"FROM {DataSource._meta.db_table} ds, (VALUES {', '.join(values)}) AS v(n, {', '.join(_VALUE_COLUMNS)}) "
        f"WHERE ds.id = %s ORDER BY v.n"  # ids follow the order the events were sent in
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount > 0


def datasource_gone(pending: PendingBatch) -> InvalidInput:
    return InvalidInput(f"The datasource {pending.datasource.slug!r} no longer exists")


class GroupCommitter:
    """Writes small batches of concurrent requests of this process together (see the module)."""

    def __init__(self, *, max_rows: int = MAX_GROUP_ROWS):
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._queue: list[PendingBatch] = []
        self._writing = False

    def write(self, *, datasource: DataSource, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]) -> None:
        """Store rows; returns once they are committed, raises what storing them raised."""
        pending = PendingBatch(datasource=datasource, batch=batch, received_at=received_at, rows=rows)
        with self._lock:
            self._queue.append(pending)
            leads = not self._writing
            if leads:
                self._writing = True
        if not leads:
            pending.done.wait()
            if not pending.lead:  # written by another request's statement
                if pending.error is not None:
                    raise pending.error
                return
        self._write_one_group()
        if pending.error is not None:
            raise pending.error

    def _write_one_group(self) -> None:
        """Take what is queued (within max_rows), write it, wake its requests and hand the next
        group to the first request still waiting (each request writes at most one group)."""
        with self._lock:
            # One datasource a statement: on a distributed PostgreSQL (Citus, by datasource_id) it
            # stays a single-shard insert. Others wait for the next group, in arrival order.
            datasource_id = self._queue[0].datasource.pk
            group, rows, waiting = [], 0, []
            for pending in self._queue:
                fits = not group or rows + len(pending.rows) <= self.max_rows
                if pending.datasource.pk == datasource_id and fits:
                    group.append(pending)
                    rows += len(pending.rows)
                else:
                    waiting.append(pending)
            self._queue = waiting
        try:
            self._write_group(group)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._writing = False
            for pending in group:
                pending.done.set()

    def _write_group(self, group: list[PendingBatch]) -> None:
        try:
            if not insert_batches(group):
                for pending in group:
                    pending.error = datasource_gone(pending)
        except (OperationalError, InterfaceError) as error:
            for pending in group:  # an outage: every batch of the group failed, as each would alone
                pending.error = error
        except DatabaseError as error:
            # Nothing of the group was written (one implicit transaction). One batch may be the
            # culprit (a value the database refuses): the others must not fail with it.
            if len(group) == 1:
                group[0].error = error
                return
            for pending in group:
                try:
                    if not insert_batches([pending]):
                        pending.error = datasource_gone(pending)
                except DatabaseError as single_error:
                    pending.error = single_error
        except BaseException as error:  # noqa: BLE001 - no request may wait forever on a bug
            for pending in group:
                pending.error = error


group_committer = GroupCommitter()
