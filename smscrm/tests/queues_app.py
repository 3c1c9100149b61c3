"""A Celery app for test_queues: the project's settings and routes, and two stand-in tasks.

``celery -A smscrm.tests.queues_app worker -Q imports`` (or ``-Q dispatch``) runs a real worker
that imports this module only: no task of the project's, no database. The stand-ins are routed
exactly like the project's tasks they stand for (CELERY_TASK_ROUTES), so where they land is
where those land:

- ``queues_test.slow_import`` (as ``contacts.import_commit``): runs until the test releases it;
- ``queues_test.quick_dispatch`` (as ``campaigns.dispatch``): returns at once.

Each reports through Redis keys under the prefix in SMSCRM_TEST_QUEUES_PREFIX, which also
prefixes every broker key (kombu's ``global_keyprefix``): a test's queues, messages and keys are
its own, whatever else uses the same Redis database.
"""

import os
import time

import redis
from celery import Celery
from django.conf import settings

PREFIX_ENV = "SMSCRM_TEST_QUEUES_PREFIX"
SLOW = "queues_test.slow_import"
QUICK = "queues_test.quick_dispatch"
STANDS_FOR = {SLOW: "contacts.import_commit", QUICK: "campaigns.dispatch"}
# The slow task gives up by itself after this long, should a test die without releasing it.
SLOW_MAX_SECONDS = 300


def key(prefix: str, name: str) -> str:
    """The Redis key a stand-in sets (or the test sets, to release the slow one)."""
    return f"{prefix}signal:{name}"


def make_app(prefix: str) -> Celery:
    """The project's Celery configuration on a Redis broker whose every key starts with ``prefix``."""
    app = Celery("smscrm_test_queues", set_as_current=False, fixups=[])
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        task_always_eager=False,  # tests run the project's tasks eagerly; these go through the broker
        beat_schedule={},
        task_routes={
            **settings.CELERY_TASK_ROUTES,
            **{name: settings.CELERY_TASK_ROUTES[real] for name, real in STANDS_FOR.items()},
        },
        broker_url=settings.REDIS_URL,
        broker_transport_options={**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": prefix},
        worker_enable_remote_control=False,  # no pidbox: nothing shared with other workers on this Redis
    )
    return app


PREFIX = os.environ.get(PREFIX_ENV, "smscrm-test-queues:")
app = make_app(PREFIX)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)


@app.task(name=SLOW, shared=False, bind=True, ignore_result=True)
def slow_import(self) -> None:
    client = _redis()
    client.set(key(PREFIX, "slow-started"), self.request.hostname)
    deadline = time.monotonic() + SLOW_MAX_SECONDS
    while not client.exists(key(PREFIX, "slow-release")) and time.monotonic() < deadline:
        time.sleep(0.05)
    client.set(key(PREFIX, "slow-finished"), self.request.hostname)


@app.task(name=QUICK, shared=False, bind=True, ignore_result=True)
def quick_dispatch(self) -> None:
    _redis().set(key(PREFIX, "quick-done"), self.request.hostname)
