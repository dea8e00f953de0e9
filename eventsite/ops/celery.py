"""Celery signal handlers: the request id travels with the tasks a request starts, and task
outcomes are counted (eventsite_celery_tasks_total). Connected by OpsConfig.ready()."""

import logging

from celery import signals

from eventsite.lib import metrics
from eventsite.lib.context import request_id
from eventsite.ops import multiproc

HEADER = "request_id"
_tokens: dict[str, object] = {}
logger = logging.getLogger(__name__)


@signals.before_task_publish.connect
def _add_request_id(headers=None, **kwargs):
    rid = request_id.get()
    if rid and headers is not None and HEADER not in headers:
        headers[HEADER] = rid


@signals.task_prerun.connect
def _enter_request_id(task_id=None, task=None, **kwargs):
    rid = getattr(task.request, HEADER, None) if task is not None else None
    if rid:
        _tokens[task_id] = request_id.set(rid)


@signals.task_postrun.connect
def _leave_request_id(task_id=None, **kwargs):
    token = _tokens.pop(task_id, None)
    if token is not None:
        request_id.reset(token)


@signals.task_success.connect
def _count_success(sender=None, **kwargs):
    metrics.celery_task(task=sender.name, outcome="success")


@signals.task_failure.connect
def _count_failure(sender=None, **kwargs):
    metrics.celery_task(task=sender.name, outcome="failure")


@signals.task_retry.connect
def _count_retry(sender=None, **kwargs):
    metrics.celery_task(task=sender.name, outcome="retry")


@signals.worker_init.connect
def _clean_metrics_dir(**kwargs):
    multiproc.remove_dead_files()


@signals.worker_process_shutdown.connect
def _mark_dead(pid=None, **kwargs):
    if pid:
        multiproc.mark_process_dead(pid)
