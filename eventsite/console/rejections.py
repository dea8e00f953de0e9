"""Counting refused API requests per hour, datasource and status, without touching the database
in the request.

The compatible API families call count_rejection() where they render an error (one line in
their api_view). It only adds to a dictionary in this process; a daemon thread writes the
counts to RejectionHour every settings.CONSOLE_FLUSH_SECONDS (a database write, so never in a
request), and at exit. With 0 (the in-process test suite) no thread starts: call
flush_rejections() yourself. Counts of a process killed without warning (SIGKILL) since its last
flush are lost: the figures are for operators, not accounting.
"""

import atexit
import logging
import os
import threading
import time
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from eventsite.console.models import RejectionHour
from tokens.authentication import token_from_request
from tokens.cache import token_cache
from tokens.services import token_hash

logger = logging.getLogger(__name__)

# Bounds memory if the database stays down: older counts are dropped beyond this many keys.
MAX_PENDING_KEYS = 10_000
# The reasons the overview shows one by one; other 4xx/5xx are shown together.
REASONS = (400, 401, 403, 413, 429, 503)

_lock = threading.Lock()
_pending: Counter = Counter()
_flusher_pid: int | None = None


def _datasource_slug(request: HttpRequest) -> str:
    """The datasource of the request's token if this process has it cached (no query); else ""."""
    try:
        raw = token_from_request(request)
        token = token_cache.get(token_hash(raw)) if raw and len(raw) <= 200 else None
    except Exception:  # noqa: BLE001 - counting must never turn an error answer into a 500
        return ""
    return token.datasource.slug if token is not None else ""


def count_rejection(request: HttpRequest, status: int) -> None:
    """Count one refused API request (call it with the status of the error answer)."""
    if status < 400:
        return
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    key = (hour, _datasource_slug(request), status)
    with _lock:
        if len(_pending) < MAX_PENDING_KEYS or key in _pending:
            _pending[key] += 1
    _ensure_flusher()


def _ensure_flusher() -> None:
    # Started lazily, in the process that counts: gunicorn forks workers after import.
    global _flusher_pid
    interval = settings.CONSOLE_FLUSH_SECONDS
    if not interval or _flusher_pid == os.getpid():
        return
    with _lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
    threading.Thread(target=_flush_forever, args=(interval,), name="rejection-flusher", daemon=True).start()
    atexit.register(flush_rejections)


def _flush_forever(interval: int) -> None:
    while True:
        time.sleep(interval)
        flush_rejections()
        connection.close()  # this thread's own connection: not held open between flushes


def rejections_pending_clear() -> None:
    """Forget counts not yet written (tests)."""
    with _lock:
        _pending.clear()


def _add(hour: datetime, slug: str, status: int, count: int) -> None:
    match = {"hour": hour, "datasource_slug": slug, "status": status}
    if RejectionHour.objects.filter(**match).update(count=F("count") + count):
        return
    try:
        with transaction.atomic():
            RejectionHour.objects.create(count=count, **match)
    except IntegrityError:  # another process created it meanwhile
        RejectionHour.objects.filter(**match).update(count=F("count") + count)


def flush_rejections() -> int:
    """Write this process's pending counts; on failure keep them for the next flush."""
    with _lock:
        batch = Counter(_pending)
        _pending.clear()
    if not batch:
        return 0
    written = Counter()
    try:
        for (hour, slug, status), count in batch.items():
            _add(hour, slug, status, count)
            written[(hour, slug, status)] = count
    except Exception:  # noqa: BLE001 - the database may be down: retry on the next flush
        logger.warning("could not write rejected-request counts; keeping them for the next flush")
        with _lock:
            _pending.update(batch - written)
    return sum(written.values())
