from celery import shared_task
from django.conf import settings

from smscrm.heartbeats import heartbeat_record, worker_component


@shared_task(name="smscrm.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat(queue: str = settings.QUEUE_DEFAULT) -> None:
    """Proves a worker is consuming ``queue``: beat sends one to each queue (CELERY_BEAT_SCHEDULE)
    every HEARTBEAT_INTERVAL_SECONDS, routed to that queue, and it records ``worker:<queue>``."""
    heartbeat_record(component=worker_component(queue))
