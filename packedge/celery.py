"""The Celery app (Django's documented layout): Redis as broker when CELERY_BROKER_URL is set, else in-process.

Tasks live in each app's ``tasks.py`` and are found by ``autodiscover_tasks``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packedge.settings")

app = Celery("packedge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
