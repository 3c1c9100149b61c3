"""Thin tasks of the reporting app."""

import logging

from celery import shared_task
from django.conf import settings

from campaigns.models import Campaign
from reporting import stats
from smscrm.locks import single_run

logger = logging.getLogger(__name__)


def refresh_later(task, *args) -> None:
    """Ask for a background refresh from a page; with the broker down, the page still shows its
    stored figures (saying how old they are) instead of failing."""
    try:
        task.delay(*args)
    except Exception:  # noqa: BLE001 - any broker error; the page must not fail for it
        logger.warning("could not queue %s%r: broker unreachable", task.name, args, exc_info=True)


@shared_task(name="reporting.refresh_campaign", ignore_result=True)
@single_run("reporting.refresh_campaign:{0}")
def refresh_campaign(campaign_id: int) -> None:
    """Recompute one campaign's figures (a report page found them stale). One run per campaign at a time."""
    campaign = Campaign.objects.select_related("tenant", "template").filter(pk=campaign_id).first()
    if campaign is not None:
        stats.campaign_stats_refresh(campaign)


@shared_task(name="reporting.refresh_stats", ignore_result=True)
def refresh_stats() -> None:
    """Periodic (30 s): every campaign still moving, and those that ended in the last day; then
    the dashboards of their businesses, whose figures (delivery, opt-outs, the queue) change
    with them, so a dashboard nobody reloads is not left hours old."""
    campaign_ids = stats.campaigns_to_refresh()
    for campaign_id in campaign_ids:
        refresh_campaign(campaign_id)
    for tenant_id in stats.tenants_of(campaign_ids):
        refresh_tenant(tenant_id)


@shared_task(name="reporting.refresh_tenant", ignore_result=True)
@single_run("reporting.refresh_tenant:{0}")
def refresh_tenant(tenant_id: int) -> None:
    """Recompute a tenant's dashboard figures (its dashboard found them stale). One run per tenant at a time."""
    from reporting.dashboard import tenant_stats_refresh
    from tenants.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is not None:
        tenant_stats_refresh(tenant)


@shared_task(name="reporting.pilot_check", ignore_result=True)
def pilot_check_run(run_id: int) -> None:
    """Run a pilot check requested on its page; its progress and verdicts are stored on the run."""
    from reporting.pilot_runs import run_execute

    run_execute(run_id)


@shared_task(name="reporting.pilot_runs_resume", ignore_result=True)
@single_run("reporting.pilot_runs_resume", timeout=settings.CELERY_TASK_TIME_LIMIT)
def pilot_runs_resume() -> None:
    """Periodic: pilot checks asked for whose task was lost (the broker was down)."""
    from reporting.pilot_runs import runs_resume

    runs_resume()
