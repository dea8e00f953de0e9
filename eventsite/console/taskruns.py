"""What the workers say about themselves, for the health panel (Celery signals).

- TaskRun: the last run of every task name, recorded by the worker that ran it; the periodic
  sweeps' rows say when the scheduler last had them run.
- WorkerSeen: each worker's main process writes its hostname and queues every WORKER_BEAT_SECONDS
  from a thread, so a worker whose task slots are all busy with long exports still counts as alive,
  and the panel can tell whether the `exports` queue has a worker at all.
Recording never fails a task or stops a worker.
"""

import logging
import socket
import threading
import time

from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from eventsite.console.models import TaskRun, WorkerSeen

logger = logging.getLogger(__name__)

WORKER_BEAT_SECONDS = 30


def _record(name: str, **fields) -> None:
    try:
        if TaskRun.objects.filter(name=name).update(**fields):
            return
        try:
            with transaction.atomic():
                TaskRun.objects.create(name=name, **{k: (1 if k == "runs" else v) for k, v in fields.items()})
        except IntegrityError:  # another worker created it meanwhile
            TaskRun.objects.filter(name=name).update(**fields)
    except Exception:  # noqa: BLE001 - bookkeeping must not fail the task (the database may be down)
        logger.warning("could not record the run of task %s", name)


@task_prerun.connect
def _task_started(sender=None, task=None, **kwargs) -> None:
    _record(task.name, last_started_at=timezone.now())


@task_postrun.connect
def _task_finished(sender=None, task=None, state=None, **kwargs) -> None:
    hostname = getattr(task.request, "hostname", None) or socket.gethostname()
    _record(task.name, last_finished_at=timezone.now(), last_state=state or "", hostname=hostname[:200],
            runs=F("runs") + 1)



def _worker_seen(hostname: str, queues: list[str], started_at) -> None:
    try:
        WorkerSeen.objects.update_or_create(
            hostname=hostname[:200],
            defaults={"queues": queues, "seen_at": timezone.now(), "started_at": started_at, "stopped_at": None})
    except Exception:  # noqa: BLE001 - the database may be down; the next beat tries again
        logger.warning("could not record that worker %s is alive", hostname)
    finally:
        connection.close()  # this thread's own connection: not held between beats


@worker_ready.connect
def _worker_started(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    queues = sorted(sender.app.amqp.queues.consume_from) if sender is not None else []
    started_at = timezone.now()

    def beat():
        while True:
            _worker_seen(hostname, queues, started_at)
            time.sleep(WORKER_BEAT_SECONDS)

    threading.Thread(target=beat, name="console-worker-seen", daemon=True).start()


@worker_shutdown.connect
def _worker_stopped(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", None)
    if hostname:
        try:
            WorkerSeen.objects.filter(hostname=hostname[:200]).update(stopped_at=timezone.now())
        except Exception:  # noqa: BLE001
            logger.warning("could not record that worker %s stopped", hostname)
