"""The Celery app. Tasks take ids and call services; see reports/tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsite.settings")

app = Celery("eventsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
