"""The web processes' trigger of the spool drain: one daemon thread per gunicorn worker
(started by eventsite.gunicorn_conf.post_worker_init).

Every SPOOL_DRAIN_INTERVAL_SECONDS it lists the spool directory (cheap when the spool is empty)
and, if anything waits, calls events_spool_drain, the one drain service. Workers share the spool:
the drain takes turns through a file lock, so only one drains at a time.
"""

import logging
import threading
import time

logger = logging.getLogger(__name__)
_started = threading.Event()


def _run(interval: float) -> None:
    from django.db import connection

    from events.services import events_spool_drain
    from events.spool import spool_is_empty

    while True:
        time.sleep(interval)
        if spool_is_empty():
            continue
        try:
            result = events_spool_drain()
            if result.error:
                logger.info("spool drain waiting: %s", result.error)
        except Exception:  # the thread must outlive any one failed drain; the spool stays on disk
            logger.exception("spool drain failed")
        finally:
            connection.close()  # this thread's own connection: not held between drains


def start_drain_thread() -> None:
    if _started.is_set():
        return
    _started.set()
    from django.conf import settings

    if not settings.SPOOL_ENABLED:
        return
    threading.Thread(
        target=_run, args=(settings.SPOOL_DRAIN_INTERVAL_SECONDS,), name="spool-drain", daemon=True
    ).start()
