"""The Celery application. Configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from smscrm.logging import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")

app = Celery("smscrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# The request id of the request that enqueued a task is on the task's log lines too (issue 20).
# Under CELERY_TASK_ALWAYS_EAGER the task runs in the request's context and simply keeps it.
@before_task_publish.connect
def carry_request_id(headers=None, **_kwargs) -> None:
    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault("request_id", rid)


@task_prerun.connect
def adopt_request_id(task=None, **_kwargs) -> None:
    # A worker finds the header on task.request; an eager ``apply(headers=…)`` in its ``headers``.
    request = getattr(task, "request", None)
    rid = getattr(request, "request_id", None) or (getattr(request, "headers", None) or {}).get("request_id")
    if rid:
        request.request_id_token = request_id.set(str(rid)[:64])


@task_postrun.connect
def forget_request_id(task=None, **_kwargs) -> None:
    token = getattr(getattr(task, "request", None), "request_id_token", None)
    if token is not None:
        request_id.reset(token)
