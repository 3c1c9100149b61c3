from celery import shared_task

from smscrm.heartbeats import WORKER, heartbeat_record


@shared_task(name="smscrm.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    """Run by beat every HEARTBEAT_INTERVAL_SECONDS; proves a worker is consuming the queue."""
    heartbeat_record(component=WORKER)
