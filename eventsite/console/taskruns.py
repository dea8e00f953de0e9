"""The last run of every Celery task, recorded by the worker that ran it (Celery signals).

The health panel reads these rows: the newest finish is the workers' heartbeat (the rollup runs
every 30 s), and the periodic sweeps' rows say when the scheduler last had them run. Recording
never fails a task.
"""

import logging
import socket

from celery.signals import task_postrun, task_prerun
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from eventsite.console.models import TaskRun

logger = logging.getLogger(__name__)


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

