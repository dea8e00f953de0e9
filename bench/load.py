"""Bulk-loading events for benchmarks: the rows eventsite would write, COPY'd in big chunks."""

import io
import time
import uuid

from django.db import connection, transaction
from django.utils import timezone

CHUNK = 20_000


def load_rows(datasource_id: int, rows_factory, total: int) -> float:
    """COPY total rows made by rows_factory(first, count) -> list[EventRow]; returns seconds."""
    from events.services import COPY_SQL, copy_lines

    now = timezone.now()
    began = time.perf_counter()
    loaded = 0
    while loaded < total:
        count = min(CHUNK, total - loaded)
        text = copy_lines(datasource_id, 0, uuid.uuid4(), now, rows_factory(loaded, count))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.cursor.copy_expert(COPY_SQL, io.StringIO(text))
        loaded += count
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_event")
    return time.perf_counter() - began
