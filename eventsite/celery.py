"""The Celery app. Tasks take ids and call services; see reports/tasks.py."""

import os

from eventsite.ops import multiproc

# Before prometheus_client is imported: worker processes write their figures for /metrics.
multiproc.configure()

from celery import Celery  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsite.settings")

app = Celery("eventsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request ids into tasks, task outcomes into metrics.
import eventsite.ops.celery  # noqa: E402, F401
