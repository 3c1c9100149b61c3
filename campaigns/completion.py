"""Campaigns that finished sending: completed in one statement, and announced.

A running campaign with jobs and none left pending, sending or of unknown outcome (a job whose
outcome is unknown keeps its campaign open until a person settles it) is completed by one
``UPDATE … RETURNING``, so each campaign is completed, and its ``campaign.completed`` event
webhook written, exactly once however many dispatchers run at the same moment. The event's
outbox rows commit with the completion.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from campaigns.models import Campaign, CampaignStatus, JobStatus, SendJob
from webhooks.events import events_emit, subscribers_of, timestamp
from webhooks.models import EventType

OPEN_JOBS = (JobStatus.PENDING, JobStatus.SENDING, JobStatus.UNKNOWN)


def campaigns_complete_finished(*, now: datetime) -> list[int]:
    """Complete every finished running campaign; their ids."""
    open_jobs = SendJob.objects.filter(campaign=OuterRef("pk"), status__in=OPEN_JOBS)
    finished = (
        Campaign.objects.filter(status=CampaignStatus.RUNNING, jobs_created_at__isnull=False)
        .exclude(Exists(open_jobs))
        .values("id")
    )
    subquery, params = finished.query.sql_with_params()
    table = connection.ops.quote_name(Campaign._meta.db_table)
    # The table name comes from model metadata and the subquery from the ORM; values are parameters.
    sql = (
        f"UPDATE {table} SET status = %s, completed_at = %s, updated_at = %s"  # noqa: S608
        f" WHERE id IN ({subquery}) AND status = %s"
        " RETURNING id, tenant_id, name"
    )
    completed_at = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [CampaignStatus.COMPLETED, completed_at, completed_at, *params, CampaignStatus.RUNNING])
            done = cursor.fetchall()
        if done:
            _announce(done, now=now)
    return [pk for pk, _tenant_id, _name in done]


def _announce(done: list[tuple[int, int, str]], *, now: datetime) -> None:
    subscribed = subscribers_of(
        tenant_ids={tenant_id for _pk, tenant_id, _name in done}, type=EventType.CAMPAIGN_COMPLETED
    )
    if not subscribed:
        return
    events = [
        (tenant_id, {"campaign_id": pk, "name": name, "completed_at": timestamp(now)}) for pk, tenant_id, name in done
    ]
    events_emit(type=EventType.CAMPAIGN_COMPLETED, events=events, subscribed=subscribed, at=now)
