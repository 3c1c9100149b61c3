"""Thin tasks of the campaigns app; each is safe to run twice."""

from celery import shared_task

from campaigns import dispatch, services
from smscrm.locks import single_run


@shared_task(name="campaigns.create_jobs", ignore_result=True, acks_late=True)
def campaign_create_jobs(campaign_id: int) -> None:
    services.campaign_create_jobs(campaign_id=campaign_id)


@shared_task(name="campaigns.dispatch", ignore_result=True)
def dispatch_due(max_seconds: float = 50.0) -> None:
    """Periodic: hand off due jobs. Overlapping runs are fine (SKIP LOCKED shares the work)."""
    dispatch.dispatch(max_seconds=max_seconds)


@shared_task(name="campaigns.reconcile_sending", ignore_result=True)
@single_run("campaigns.reconcile_sending")
def reconcile_sending() -> None:
    """Periodic: settle jobs a dead worker left mid hand-off. One run at a time."""
    dispatch.reconcile_sending()


@shared_task(name="campaigns.prepare_pending", ignore_result=True)
@single_run("campaigns.prepare_pending")
def prepare_pending() -> None:
    """Periodic: launched campaigns whose job-making task was lost (the outbox's sweep)."""
    services.campaigns_prepare_pending()
