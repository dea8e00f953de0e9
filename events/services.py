"""Writes of the events layer: datasources and batched event ingest.

events_ingest is the one way events enter the database. A batch is all-or-nothing and is
acknowledged only after its transaction commits. On PostgreSQL rows go in with COPY; on
SQLite with bulk_create. A client event_id that is already stored in the datasource is
replaced: the older row is deleted in the same transaction as the new one is written.
"""

import io
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import DataError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from events.models import IDENTITY_TYPES, DataSource, Event
from events.parsing import EventRow
from eventsite.lib.errors import Conflict, InvalidInput, ServiceUnavailable

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
# COPY's text format: backslash, tab, newline and carriage return must be escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_REPLACE_ATTEMPTS = 3
# Small batches without client ids go in as one INSERT statement: one round trip that
# commits by itself, where COPY needs BEGIN, a lock, COPY and COMMIT.
ONE_STATEMENT_MAX_ROWS = 20
_VALUES_ROW = "(%s, %s::uuid, %s, %s::timestamptz, %s::timestamptz, %s, %s, %s, " + ", ".join(
    ["%s"] * len(IDENTITY_TYPES)
) + ", %s::jsonb)"


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch: uuid.UUID
    received_at: datetime
    stored: int
    dropped: int = 0


def datasource_create(*, slug: str, name: str = "") -> DataSource:
    return DataSource.objects.create(slug=slug, name=name or slug)


def datasource_get_or_create(*, slug: str, name: str = "") -> tuple[DataSource, bool]:
    return DataSource.objects.get_or_create(slug=slug, defaults={"name": name or slug})


def events_ingest(*, datasource: DataSource, rows: list[EventRow], received_at: datetime | None = None) -> IngestResult:
    """Store a parsed batch atomically; raise ServiceUnavailable if the database is down."""
    received_at = received_at or timezone.now()
    batch = uuid.uuid4()
    rows = _last_of_each_event_id(rows)
    one_statement = (
        connection.vendor == "postgresql"
        and len(rows) <= ONE_STATEMENT_MAX_ROWS
        and all(row.event_id is None for row in rows)
    )
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            if one_statement:
                _insert_in_one_statement(datasource, batch, received_at, rows)
                return IngestResult(batch=batch, received_at=received_at, stored=len(rows))
            with transaction.atomic():
                epoch = _current_epoch(datasource)
                client_ids = [row.event_id for row in rows if row.event_id is not None]
                if client_ids:
                    Event.objects.filter(datasource=datasource, epoch=epoch, event_id__in=client_ids).delete()
                if connection.vendor == "postgresql":
                    copy_rows(datasource.pk, epoch, batch, received_at, rows)
                else:
                    _bulk_create_rows(datasource.pk, epoch, batch, received_at, rows)
            return IngestResult(batch=batch, received_at=received_at, stored=len(rows))
        except IntegrityError:
            # Two requests raced to replace the same event_id; the loser retries and now
            # sees the winner's committed row, which it replaces.
            if attempt == _REPLACE_ATTEMPTS - 1:
                raise Conflict("The same event_id is being written concurrently; retry the request") from None
        except (OperationalError, InterfaceError) as exc:
            raise ServiceUnavailable("The event store is unavailable; nothing was stored, retry shortly") from exc
        except DataError as exc:
            raise InvalidInput(f"An event holds a value the database cannot store: {exc}".strip()) from exc
    raise AssertionError("unreachable")


def _current_epoch(datasource: DataSource) -> int:
    """The epoch to write into, read inside the batch transaction.

    On PostgreSQL the row is share-locked, so a concurrent purge_dataset (which updates the
    row) waits for this batch, and a batch that starts after the purge writes the new epoch.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT epoch FROM {DataSource._meta.db_table} WHERE id = %s FOR SHARE", [datasource.pk])
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


def _copy_text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


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
            f"{row.payload_json.decode().translate(_COPY_ESCAPES)}\n"
        )
    return "".join(lines)


def copy_rows(datasource_id: int, epoch: int, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]) -> None:
    text = copy_lines(datasource_id, epoch, batch, received_at, rows)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(COPY_SQL, io.StringIO(text))


def _insert_in_one_statement(datasource: DataSource, batch: uuid.UUID, received_at: datetime, rows: list[EventRow]):
    """INSERT ... SELECT that takes the epoch from the datasource row under a share lock,
    so it orders against purge_dataset exactly as the COPY path does."""
    params: list = []
    for sequence, row in enumerate(rows):
        params += [row.event_id, str(batch), sequence, received_at, row.timestamp, row.type, row.customer, row.product]
        params += [row.identities.get(kind) for kind in IDENTITY_TYPES]
        params.append(row.payload_json.decode())
    params.append(datasource.pk)
    sql = (
        f"INSERT INTO {Event._meta.db_table} ({', '.join(_COPY_COLUMNS)}) "
        f"SELECT ds.id, ds.epoch, v.* FROM {DataSource._meta.db_table} ds, "
        f"(VALUES {', '.join([_VALUES_ROW] * len(rows))}) AS v WHERE ds.id = %s FOR SHARE OF ds"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != len(rows):
            raise InvalidInput(f"The datasource {datasource.slug!r} no longer exists")


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
