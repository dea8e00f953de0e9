"""Writing the refused-API-request counts (eventsite.http.rejections counts them in each web
process, eventsite.lib.tally holds them) into RejectionHour, from the tally's background
thread every settings.CONSOLE_FLUSH_SECONDS, never from a request. Registered at start-up by
ConsoleConfig.ready(); with 0 (the in-process test suite) call flush_rejections() yourself.
"""

import threading
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from eventsite.console.models import RejectionHour
from eventsite.lib.tally import rejected_requests

# The reasons the overview shows one by one; other 4xx/5xx are shown together.
REASONS = (400, 401, 403, 413, 429, 503)


def _add(hour: datetime, slug: str, status: int, count: int) -> None:
    match = {"hour": hour, "datasource_slug": slug, "status": status}
    if RejectionHour.objects.filter(**match).update(count=F("count") + count):
        return
    try:
        with transaction.atomic():
            RejectionHour.objects.create(count=count, **match)
    except IntegrityError:  # another web process created it meanwhile
        RejectionHour.objects.filter(**match).update(count=F("count") + count)


def rejections_write(batch: Counter) -> Counter:
    """The tally's sink: write a batch; return the counts that could not be written."""
    left = Counter(batch)
    try:
        for (hour, slug, status), count in batch.items():
            _add(hour, slug, status, count)
            del left[(hour, slug, status)]
    except Exception:  # noqa: BLE001 - the database may be down: the tally keeps what is left
        pass
    finally:
        if threading.current_thread().name.endswith("-flusher") and not connection.in_atomic_block:
            connection.close()  # the flusher thread's own connection: not held open between flushes
    return left


def rejections_collect() -> None:
    rejected_requests.set_sink(rejections_write, interval=lambda: settings.CONSOLE_FLUSH_SECONDS)


def flush_rejections() -> int:
    return rejected_requests.flush()


def rejections_pending_clear() -> None:
    """Forget counts not yet written (tests)."""
    rejected_requests.clear()
