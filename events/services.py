"""Writes of the events layer: datasources and batched event ingest.

events_ingest is the one way events enter the database. A batch is all-or-nothing and is
acknowledged only after its transaction commits. On PostgreSQL rows go in with COPY; on
SQLite with bulk_create. A client event_id that is already stored in the datasource is
replaced: the older row is deleted in the same transaction as the new one is written.
"""

import io
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db import Error as DatabaseFailure
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from events import spool
from events.groupcommit import (
    EPOCH_LOCK_SHARED,
    PendingBatch,
    datasource_gone,
    epoch_lock_key,
    group_committer,
    insert_batches,
)
from events.identities import identity_type_check, user_id_hmac
from events.models import (
    IDENTITY_TYPES,
    DataSource,
    EpochReclaim,
    Event,
    PurgeAudit,
    RetentionRun,
    SpooledBatch,
    Suppression,
)
from events.parsing import EventRow
from eventsite.audit.services import staff_action_record
from eventsite.lib import metrics
from eventsite.lib.context import current_request_id
from eventsite.lib.dberrors import database_unavailable, domain_error_for
from eventsite.lib.errors import Conflict, InvalidInput, ServiceUnavailable

logger = logging.getLogger(__name__)
# Ordering of purge_user against the drain of spooled batches of the same datasource (see
# events_purge_user): pg_advisory_xact_lock(SPOOL_PURGE_LOCK, datasource id).
SPOOL_PURGE_LOCK = 0x45565350

_COPY_COLUMNS = (
    "datasource_id",
    "epoch",
    "event_id",
    "batch",
    "sequence",
    "received_at",
    "timestamp",
    "type",
    "customer",
    "product",
    *(f"user_{kind}" for kind in IDENTITY_TYPES),
    "payload",
)
COPY_SQL = f"COPY {Event._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
_REPLACE_ATTEMPTS = 3
STORE_UNAVAILABLE = "The event store is unavailable; nothing was stored, retry shortly"
# Small batches without client ids go in as one INSERT statement, shared with the concurrent
# requests of this process (events/groupcommit.py): one round trip that commits by itself, where
# COPY needs BEGIN, a lock, COPY and COMMIT.
ONE_STATEMENT_MAX_ROWS = 20


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch: uuid.UUID
    received_at: datetime
    stored: int
    dropped: int = 0
    spooled: bool = False  # in the local spool, written to the database later by the drain


def datasource_get_or_create(*, slug: str, name: str = "") -> tuple[DataSource, bool]:
    return DataSource.objects.get_or_create(slug=slug, defaults={"name": name or slug})


def events_ingest(*, datasource: DataSource, rows: list[EventRow], received_at: datetime | None = None) -> IngestResult:
    """Store a parsed batch atomically. If the database cannot be reached, the batch goes to the
    durable local spool instead (events.spool, fsynced before this returns) and is written later by
    events_spool_drain with the same batch id; ServiceUnavailable only if that is impossible too."""
    received_at = received_at or timezone.now()
    batch = uuid.uuid4()
    rows = _last_of_each_event_id(rows)
    try:
        result = _ingest(datasource, batch, received_at, rows)
    except DatabaseFailure as error:
        if database_unavailable(error):
            return _spool(datasource, batch, received_at, rows, error)
        raise domain_error_for(error, unavailable=STORE_UNAVAILABLE) from error
    spool.spool_seal()
    return result


def _spool(datasource: DataSource, batch: uuid.UUID, received_at: datetime, rows: list[EventRow],
           error: DatabaseFailure) -> IngestResult:
    # The failed connection is dropped now so the next request reconnects (the database may be
    # back), rather than finding the dead socket first.
    if not connection.in_atomic_block:
        connection.close()
    if not settings.SPOOL_ENABLED:
        raise ServiceUnavailable(STORE_UNAVAILABLE) from error
    try:
        spool.spool_append(batch=batch, datasource_id=datasource.pk, received_at=received_at, rows=rows)
    except spool.SpoolFull as full:
        raise ServiceUnavailable("The event store is unavailable and the spool is full; retry shortly") from full
    except OSError as failure:
        logger.error("cannot write the spool: %s", failure)
        raise ServiceUnavailable(STORE_UNAVAILABLE) from failure
    logger.warning("database unavailable (%s): batch %s spooled", type(error).__name__, batch)
    metrics.events_spooled(count=len(rows))
    return IngestResult(batch=batch, received_at=received_at, stored=len(rows), spooled=True)


def _ingest(datasource: DataSource, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]) -> IngestResult:
    """The database write of events_ingest; database errors propagate (events_ingest maps them)."""
    dropped = 0
    if datasource.has_suppressions:
        rows, dropped = _drop_suppressed(datasource, rows)
        if not rows:
            metrics.events_ingested(stored=0, suppressed=dropped)
            return IngestResult(batch=batch, received_at=received_at, stored=0, dropped=dropped)
    one_statement = (
        connection.vendor == "postgresql"
        and len(rows) <= ONE_STATEMENT_MAX_ROWS
        and all(row.event_id is None for row in rows)
    )
    if one_statement and not connection.in_atomic_block:
        group_committer.write(datasource=datasource, batch=batch, received_at=received_at, rows=rows)
    elif one_statement:  # inside a caller's transaction: this batch alone
        pending = PendingBatch(datasource=datasource, batch=batch, received_at=received_at, rows=rows)
        if not insert_batches([pending]):
            raise datasource_gone(pending)
    else:
        _write_replacing_event_ids(datasource, batch, received_at, rows)
    metrics.events_ingested(stored=len(rows), suppressed=dropped)
    return IngestResult(batch=batch, received_at=received_at, stored=len(rows), dropped=dropped)


def _write_replacing_event_ids(datasource: DataSource, batch: uuid.UUID, received_at: datetime,
                               rows: list[EventRow]) -> None:
    """One transaction: delete the stored events whose client event_id the batch repeats, then write."""
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            with transaction.atomic():
                epoch = _current_epoch(datasource)
                client_ids = [row.event_id for row in rows if row.event_id is not None]
                if client_ids:
                    Event.objects.filter(datasource=datasource, epoch=epoch, event_id__in=client_ids).delete()
                _write_rows(datasource.pk, epoch, batch, received_at, rows)
            return
        except IntegrityError:
            # Two requests raced to replace the same event_id; the loser retries and now
            # sees the winner's committed row, which it replaces.
            if attempt == _REPLACE_ATTEMPTS - 1:
                raise Conflict("The same event_id is being written concurrently; retry the request") from None


def _write_rows(datasource_id: int, epoch: int, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]):
    if connection.vendor == "postgresql":
        _copy_rows(datasource_id, epoch, batch, received_at, rows)
    else:
        _bulk_create_rows(datasource_id, epoch, batch, received_at, rows)


# purge_dataset and ingest order themselves with a transaction-level advisory lock keyed by the
# datasource: every batch holds it shared while it reads the epoch and writes, purge_dataset takes
# it exclusively to move the epoch. A row lock (FOR SHARE) on the datasource gave the same order
# but wrote a MultiXact onto one hot row for every concurrent batch.


def _current_epoch(datasource: DataSource) -> int:
    """The epoch to write into, read inside the batch transaction.

    On PostgreSQL the batch first takes the datasource's epoch lock shared: a concurrent
    purge_dataset waits for this batch, and a batch that starts during the purge reads the
    new epoch once the purge commits.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(EPOCH_LOCK_SHARED, epoch_lock_key(datasource.pk))
            cursor.execute(f"SELECT epoch FROM {DataSource._meta.db_table} WHERE id = %s", [datasource.pk])
            row = cursor.fetchone()
    else:
        row = DataSource.objects.filter(pk=datasource.pk).values_list("epoch").first()
    if row is None:
        raise InvalidInput(f"The datasource {datasource.slug!r} no longer exists")
    return row[0]


def _last_of_each_event_id(rows: list[EventRow]) -> list[EventRow]:
    """Within one request the last event with a given event_id wins, as a re-post would."""
    seen: set[str] = set()
    duplicates = False
    for row in rows:
        if row.event_id is not None:
            if row.event_id in seen:
                duplicates = True
                break
            seen.add(row.event_id)
    if not duplicates:
        return rows
    last_index = {row.event_id: index for index, row in enumerate(rows) if row.event_id is not None}
    return [row for index, row in enumerate(rows) if row.event_id is None or last_index[row.event_id] == index]


# COPY's text format: backslash, tab, newline and carriage return must be escaped. Chained
# str.replace (each a C loop that returns the text untouched when there is nothing to replace) is
# about four times faster than str.translate with a dict for a JSON payload (issue 16's profile).
def copy_escape(text: str) -> str:
    """text in COPY's text format: backslash first, so the escapes added after it stay single."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_text(value: str | None) -> str:
    return "\\N" if value is None else copy_escape(value)


def copy_lines(datasource_id: int, epoch: int, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]) -> str:
    """The batch in COPY text format (also used by bench/ to measure the raw COPY ceiling)."""
    prefix = f"{datasource_id}\t{epoch}\t"
    middle = f"\t{batch}\t"
    received = received_at.isoformat()
    lines = []
    for sequence, row in enumerate(rows):
        identities = row.identities
        users = "\t".join(identities.get(kind, "\\N") for kind in IDENTITY_TYPES)
        lines.append(
            f"{prefix}{_copy_text(row.event_id)}{middle}{sequence}\t{received}\t{row.timestamp.isoformat()}\t"
            f"{_copy_text(row.type)}\t{_copy_text(row.customer)}\t{_copy_text(row.product)}\t{users}\t"
            f"{copy_escape(row.payload_json.decode())}\n"
        )
    return "".join(lines)


def _copy_rows(datasource_id: int, epoch: int, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]) -> None:
    text = copy_lines(datasource_id, epoch, batch, received_at, rows)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(COPY_SQL, io.StringIO(text))


def _bulk_create_rows(
    datasource_id: int, epoch: int, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]
) -> None:
    Event.objects.bulk_create(
        [
            Event(
                datasource_id=datasource_id,
                epoch=epoch,
                event_id=row.event_id,
                batch=batch,
                sequence=sequence,
                received_at=received_at,
                timestamp=row.timestamp,
                type=row.type,
                customer=row.customer,
                product=row.product,
                payload=row.payload,
                **{f"user_{kind}": digest for kind, digest in row.identities.items()},
            )
            for sequence, row in enumerate(rows)
        ],
        batch_size=500,
    )


# --- The spool's drain ----------------------------------------------------------------------


@dataclass
class DrainResult:
    batches: int = 0  # spooled batches handled (written, or dropped whole by a purge)
    events_stored: int = 0
    events_dropped: int = 0  # purged after receipt, suppressed, superseded or refused by the database
    already_drained: int = 0  # found in SpooledBatch (a previous drain was killed before its offset)
    torn: int = 0  # torn records skipped
    busy: bool = False  # another drainer holds the spool
    error: str = ""  # why the drain stopped early (the database went away again)


def events_spool_drain(*, max_batches: int | None = None) -> DrainResult:
    """Write the spooled batches to the database in received order, each exactly once, with the
    rules of a live ingest. The one drain service: the web processes' drain thread, `manage.py
    drain_spool` and the Celery beat task all call it; concurrent calls take turns (flock).

    Exactly once: each batch's SpooledBatch row commits with its events, and a batch found there
    (or already in the events table: an ingest whose commit succeeded but whose answer failed)
    is skipped. Purges win: a purge_dataset of the datasource after the batch was received drops
    it; a purge_user drops that user's events; suppressions apply as at ingest. An event_id
    replaces a stored one only if that one was received earlier (a newer live post wins).
    """
    result = DrainResult()
    if spool.spool_is_empty():
        return result
    started = timezone.now()
    try:
        connection.ensure_connection()
    except DatabaseFailure as exc:
        if not database_unavailable(exc):
            raise
        result.error = f"database unavailable: {exc}".strip()[:300]
        return result
    spool.spool_seal()  # the database answers: this process's own segment can be finished and deleted
    with spool.drain_session() as session:
        if session is None:
            result.busy = True
            return result
        views, records = session
        group: list[spool.SpooledRecord] = []
        try:
            for item in records:
                if isinstance(item, spool.TornRecord):
                    _drain_group(group, result)
                    group = []
                    logger.error("spool: torn record skipped in %s at byte %s", item.segment.name, item.offset)
                    result.torn += 1
                    spool.save_drained_offset(item.segment, item.end)
                    continue
                if max_batches is not None and result.batches + result.already_drained + len(group) >= max_batches:
                    break
                group.append(item)
                if len(group) >= DRAIN_GROUP_BATCHES or sum(len(r.payload) for r in group) >= DRAIN_GROUP_BYTES:
                    _drain_group(group, result)
                    group = []
            _drain_group(group, result)
        except DatabaseFailure as exc:
            if not database_unavailable(exc):
                raise
            result.error = f"database unavailable: {exc}".strip()[:300]
            if not connection.in_atomic_block:
                connection.close()
        for view in views:
            spool.remove_if_drained(view)
        spool.save_drain_status({
            "started_at": started.isoformat(), "finished_at": timezone.now().isoformat(),
            "batches": result.batches, "events_stored": result.events_stored,
            "events_dropped": result.events_dropped, "already_drained": result.already_drained,
            "torn": result.torn, "error": result.error,
        })
    if result.batches or result.torn:
        logger.warning("spool drained: %s", result)
    return result


# Spooled batches written per transaction: fewer commits make the drain keep up with live ingest.
DRAIN_GROUP_BATCHES = 100
DRAIN_GROUP_BYTES = 4 * 1024 * 1024
_ALREADY = None  # outcome of a batch found in SpooledBatch


@dataclass(slots=True)
class _Spooled:
    record: "spool.SpooledRecord"
    datasource_id: int
    received_at: datetime
    rows: list[EventRow]


def _drain_group(records: list["spool.SpooledRecord"], result: DrainResult) -> None:
    """Write a group of spooled batches in one transaction; if one of them needs its own (an
    event_id race with a live post, a value the database refuses), each goes alone."""
    if not records:
        return
    group = [_Spooled(record, *record.decode()) for record in records]
    try:
        with transaction.atomic():
            outcomes = _drain_in_transaction(group)
    except (IntegrityError, DataError):
        outcomes = [_drain_alone(item) for item in group]
    for outcome in outcomes:
        if outcome is _ALREADY:
            result.already_drained += 1
        else:
            result.batches += 1
            result.events_stored += outcome[0]
            result.events_dropped += outcome[1]
    ends: dict = {}
    for record in records:  # a segment's records come in file order: its last one is its offset
        ends[record.segment] = record.end
    for segment, end in ends.items():
        spool.save_drained_offset(segment, end)


def _drain_alone(item: _Spooled):
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            with transaction.atomic():
                return _drain_in_transaction([item])[0]
        except IntegrityError:
            # A live post of the same event_id raced this batch: retry against its committed row.
            if attempt == _REPLACE_ATTEMPTS - 1:
                raise
        except DataError as exc:
            # A value the database refuses (a 400 at ingest, but the answer was given): the batch is
            # recorded as dropped, so it cannot block the spool.
            logger.error("spool: batch %s refused by the database: %s", item.record.batch, exc)
            with transaction.atomic():
                SpooledBatch.objects.get_or_create(batch=item.record.batch, defaults={
                    "received_at": item.received_at, "drained_at": timezone.now(), "dropped": len(item.rows),
                    "note": f"refused by the database: {exc}"[:300],
                })
            return 0, len(item.rows)
    raise AssertionError("unreachable")


@dataclass(slots=True)
class _DrainTarget:
    """What the drain needs of one datasource, read once per transaction under its locks."""

    datasource: DataSource
    epoch: int
    purges: list[tuple[datetime, str, str]]  # (created_at, kind, user_id_hmac), after the oldest batch
    stored_at_ingest: set[uuid.UUID]


def _drain_target(datasource_id: int, items: list[_Spooled]) -> _DrainTarget | None:
    datasource = DataSource.objects.filter(pk=datasource_id).first()
    if datasource is None:
        return None
    epoch = _current_epoch(datasource)  # takes the epoch lock shared: ordered against purge_dataset
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # ordered against purge_user (see events_purge_user)
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [SPOOL_PURGE_LOCK, datasource.pk])
    purges = list(
        PurgeAudit.objects.filter(datasource=datasource, created_at__gt=min(i.received_at for i in items))
        .values_list("created_at", "kind", "user_id_hmac")
    )
    # A batch the ingest itself committed before its answer failed (then spooled it): found
    # through the (datasource, epoch, timestamp) index.
    stored_at_ingest = set(
        Event.objects.filter(
            datasource=datasource, epoch=epoch, batch__in=[i.record.batch for i in items],
            timestamp__in={row.timestamp for i in items for row in i.rows},
        ).values_list("batch", flat=True).distinct()
    )
    return _DrainTarget(datasource=datasource, epoch=epoch, purges=purges, stored_at_ingest=stored_at_ingest)


def _drain_in_transaction(group: list[_Spooled]) -> list:
    """Each batch's outcome: _ALREADY, or (stored, dropped). Runs inside the caller's transaction."""
    already = set(SpooledBatch.objects.filter(batch__in=[i.record.batch for i in group])
                  .values_list("batch", flat=True))
    pending = [i for i in group if i.record.batch not in already]
    targets = {
        datasource_id: _drain_target(datasource_id, [i for i in pending if i.datasource_id == datasource_id])
        for datasource_id in sorted({i.datasource_id for i in pending})  # one lock order: no deadlocks
    }
    outcomes, drained = [], []
    for item in group:
        if item.record.batch in already:
            outcomes.append(_ALREADY)
            continue
        rows, note = _drain_rows(item, targets[item.datasource_id])
        outcomes.append((len(rows), len(item.rows) - len(rows)))
        drained.append(SpooledBatch(
            batch=item.record.batch, received_at=item.received_at, drained_at=timezone.now(), stored=len(rows),
            dropped=len(item.rows) - len(rows), note=note,
        ))
    SpooledBatch.objects.bulk_create(drained)
    return outcomes


def _drain_rows(item: _Spooled, target: _DrainTarget | None) -> tuple[list[EventRow], str]:
    """Write one spooled batch by the rules of a live ingest; returns the rows written and a note."""
    if target is None:
        return [], "datasource deleted"
    if item.record.batch in target.stored_at_ingest:
        return [], "stored at ingest"
    datasource, rows = target.datasource, item.rows
    later = [(kind, user_hmac) for created_at, kind, user_hmac in target.purges if created_at > item.received_at]
    if any(kind == PurgeAudit.Kind.DATASET for kind, _ in later):
        return [], "purge_dataset after receipt"
    purged_users = {user_hmac for kind, user_hmac in later if kind == PurgeAudit.Kind.USER}
    if purged_users:
        rows = [
            row for row in rows
            if not any(user_id_hmac(datasource=datasource, kind=kind, digest=digest) in purged_users
                       for kind, digest in row.identities.items())
        ]
    if rows and datasource.has_suppressions:
        rows, _ = _drop_suppressed(datasource, rows)
    client_ids = [row.event_id for row in rows if row.event_id is not None]
    if client_ids:
        stored = Event.objects.filter(datasource=datasource, epoch=target.epoch, event_id__in=client_ids)
        newer = set(stored.filter(received_at__gt=item.received_at).values_list("event_id", flat=True))
        if newer:  # a later post of the same event_id wins over this older, spooled one
            rows = [row for row in rows if row.event_id not in newer]
        stored.filter(received_at__lte=item.received_at).delete()
    if rows:
        _write_rows(datasource.pk, target.epoch, item.record.batch, item.received_at, rows)
    return rows, ""


# --- Purges (orchestrated by reports.purges, which also records the audit) -----------------

RECLAIM_CHUNK = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _identity_column(kind: str) -> str:
    return f"user_{identity_type_check(kind)}"


@dataclass(frozen=True, slots=True)
class PurgedEvent:
    """One erased event, as far as report files care: reports filter on customer and product."""

    datasource_id: int
    epoch: int
    customer: str
    product: str
    type: str
    timestamp_ms: int


def timestamp_ms(value: datetime | str) -> int:
    """An event time in whole milliseconds since the epoch, exactly (integer arithmetic, the
    report files' first column). A raw cursor gives SQLite's text, PostgreSQL's datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)


def events_purge_user(*, datasource: DataSource, kind: str, digest: str) -> tuple[int, list[PurgedEvent]]:
    """Delete every event of one user in a datasource, in every epoch, through the
    (datasource, user_<kind>) partial index: the cost follows the user's events, not the table.

    Returns the count and the deleted events that reports can hold (those with a customer),
    which tell which report files may have held them (one pass: the DELETE returns them).
    """
    column = _identity_column(kind)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # Waits for a drain writing spooled events of this datasource, and makes the drain wait
            # for this purge's commit: either way the drain sees the audit, so the purge wins.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SPOOL_PURGE_LOCK, datasource.pk])
        cursor.execute(
            f"DELETE FROM {Event._meta.db_table} WHERE datasource_id = %s AND {column} = %s "
            f"RETURNING epoch, customer, product, type, timestamp",
            [datasource.pk, digest],
        )
        deleted = cursor.fetchall()
    reportable = [
        PurgedEvent(datasource_id=datasource.pk, epoch=epoch, customer=customer, product=product, type=event_type,
                    timestamp_ms=timestamp_ms(timestamp))
        for epoch, customer, product, event_type, timestamp in deleted
        if customer is not None
    ]
    return len(deleted), reportable


def events_purge_dataset_begin(*, datasource: DataSource) -> EpochReclaim:
    """Hide every event of the datasource at once by moving it to a new epoch.

    The epoch lock, taken exclusively, waits for the ingest batches holding it shared, so a
    batch either commits before (its events are purged) or writes the new epoch. The old
    epoch's rows are deleted later by events_reclaim_epoch.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", epoch_lock_key(datasource.pk))
        DataSource.objects.filter(pk=datasource.pk).update(epoch=F("epoch") + 1)
        datasource.refresh_from_db(fields=["epoch"])
        reclaim, _ = EpochReclaim.objects.get_or_create(datasource=datasource, epoch=datasource.epoch - 1)
    return reclaim


def events_reclaim_epoch(*, reclaim: EpochReclaim, chunk: int = RECLAIM_CHUNK) -> int:
    """Delete the rows of a hidden epoch in bounded transactions; safe to run twice."""
    table = Event._meta.db_table
    remaining = Event.objects.filter(datasource_id=reclaim.datasource_id, epoch=reclaim.epoch)
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            # datasource_id on the outer DELETE too: with the events table distributed by it
            # (Citus, docs/scaling.md) the whole statement then runs on one shard.
            cursor.execute(
                f"DELETE FROM {table} WHERE datasource_id = %s AND id IN (SELECT id FROM {table} "
                f"WHERE datasource_id = %s AND epoch = %s LIMIT %s)",
                [reclaim.datasource_id, reclaim.datasource_id, reclaim.epoch, chunk],
            )
            count = cursor.rowcount
        deleted += count
        # A short chunk may only mean another reclaimer (the sweep) held those rows: finish
        # only when none are left, so two concurrent runs never stop each other early.
        if count < chunk and not remaining.exists():
            break
    EpochReclaim.objects.filter(pk=reclaim.pk).update(
        finished_at=timezone.now(), events_deleted=F("events_deleted") + deleted
    )
    return deleted


def suppression_add(*, datasource: DataSource, kind: str, digest: str) -> Suppression:
    _identity_column(kind)
    with transaction.atomic():
        # The datasource row lock orders adds and lifts, so has_suppressions stays true
        # whenever an active suppression exists.
        DataSource.objects.select_for_update().filter(pk=datasource.pk).first()
        suppression, _ = Suppression.objects.get_or_create(
            datasource=datasource, kind=kind, digest=digest, lifted_at=None
        )
        DataSource.objects.filter(pk=datasource.pk).update(has_suppressions=True)
    return suppression


def suppression_lift(*, suppression: Suppression) -> None:
    with transaction.atomic():
        DataSource.objects.select_for_update().filter(pk=suppression.datasource_id).first()
        lifted = Suppression.objects.filter(pk=suppression.pk, lifted_at=None).update(lifted_at=timezone.now())
        if lifted:
            datasource, kind = suppression.datasource, suppression.kind
            # The keyed hash a purge audit holds for the same user, never the identity's digest.
            staff_action_record(
                action="suppression.lift", target=suppression, target_repr=f"{kind} suppression in {datasource.slug}",
                detail={"datasource": datasource.slug, "user_id_type": kind,
                        "user_id_hmac": user_id_hmac(datasource=datasource, kind=kind, digest=suppression.digest)})
        still_active = Suppression.objects.filter(datasource_id=suppression.datasource_id, lifted_at=None).exists()
        DataSource.objects.filter(pk=suppression.datasource_id).update(has_suppressions=still_active)


def _drop_suppressed(datasource: DataSource, rows: list[EventRow]) -> tuple[list[EventRow], int]:
    """Remove events of suppressed users (one query per batch) and count them."""
    digests = {digest for row in rows for digest in row.identities.values()}
    if not digests:
        return rows, 0
    active = set(
        Suppression.objects.filter(datasource=datasource, lifted_at=None, digest__in=digests).values_list(
            "kind", "digest"
        )
    )
    if not active:
        return rows, 0
    kept, dropped_by = [], {}
    for row in rows:
        hits = [(kind, digest) for kind, digest in row.identities.items() if (kind, digest) in active]
        if hits:
            dropped_by[hits[0]] = dropped_by.get(hits[0], 0) + 1
        else:
            kept.append(row)
    for (kind, digest), count in dropped_by.items():
        Suppression.objects.filter(datasource=datasource, kind=kind, digest=digest, lifted_at=None).update(
            events_dropped=F("events_dropped") + count
        )
    return kept, len(rows) - len(kept)


def datasource_delete(*, datasource: DataSource) -> None:
    """Delete a datasource that holds no events (purge it first: that is audited and does not
    hold one huge transaction over millions of rows)."""
    if Event.objects.filter(datasource=datasource).exists():
        raise Conflict(f"Datasource {datasource.slug!r} still has events: purge it (purge_dataset) first")
    datasource.delete()


# --- Retention -----------------------------------------------------------------------------


def events_apply_retention(*, datasource: DataSource, dry_run: bool = False, trigger: str = "scheduler",
                           now: datetime | None = None) -> RetentionRun | None:
    """Delete the datasource's events whose event time is past its retention_days.

    Rows go in chunks of RETENTION_CHUNK, each its own short transaction found through the
    (datasource, epoch, timestamp) index, so no lock is held for long and ingest goes on
    beside it. Readers already hide these events (events.selectors). Safe to run twice or
    concurrently. Each run is recorded as a RetentionRun; None when the datasource keeps
    its events forever. Call it outside a transaction.
    """
    datasource.refresh_from_db(fields=["retention_days", "epoch"])
    started = timezone.now()
    cutoff = datasource.retention_cutoff(now or started)
    if cutoff is None:
        return None
    run = RetentionRun.objects.create(
        started_at=started, datasource=datasource, datasource_slug=datasource.slug,
        retention_days=datasource.retention_days, cutoff=cutoff, dry_run=dry_run, trigger=trigger,
        request_id=current_request_id(),
    )
    expired = Event.objects.filter(datasource=datasource, epoch=datasource.epoch, timestamp__lt=cutoff)
    if dry_run:
        RetentionRun.objects.filter(pk=run.pk).update(
            events_deleted=expired.count(), outcome="dry_run", finished_at=timezone.now())
        run.refresh_from_db()
        return run
    table = Event._meta.db_table
    chunk, pause = settings.RETENTION_CHUNK, settings.RETENTION_PAUSE_SECONDS
    deleted = chunks = 0
    outcome = "failed"
    try:
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE datasource_id = %s "
                    f"AND epoch = %s AND timestamp < %s LIMIT %s)",
                    [datasource.pk, datasource.epoch, cutoff, chunk],
                )
                count = cursor.rowcount
            deleted += count
            chunks += 1
            if count < chunk:
                break
            if pause:
                time.sleep(pause)
        outcome = "complete"
    finally:
        RetentionRun.objects.filter(pk=run.pk).update(
            events_deleted=deleted, chunks=chunks, outcome=outcome, finished_at=timezone.now())
        metrics.retention_applied(deleted=deleted, outcome=outcome)
    run.refresh_from_db()
    if trigger != "scheduler":
        # A sweep started by hand (a command, the console) is a staff action; the scheduler's are not.
        staff_action_record(action="retention.apply", target=datasource, detail={
            "retention_run": run.pk, "retention_days": run.retention_days, "cutoff": run.cutoff,
            "events_deleted": run.events_deleted, "outcome": run.outcome})
    return run


def events_apply_retention_all(*, dry_run: bool = False, trigger: str = "scheduler") -> list[RetentionRun]:
    """The sweep: every datasource that has a retention, one after the other."""
    runs = []
    for datasource in DataSource.objects.filter(retention_days__isnull=False).order_by("pk"):
        run = events_apply_retention(datasource=datasource, dry_run=dry_run, trigger=trigger)
        if run is not None:
            runs.append(run)
    return runs
