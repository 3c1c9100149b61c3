"""The pilot check's runs: the page's checks run in the worker, their progress and verdicts stored.

A run is asked for (``run_request``: one per scope at a time), claimed and executed by the
``reporting.pilot_check`` task (``run_execute``, safe twice), swept when its task was lost
(``runs_resume``) or its worker died (``runs_expire``); the command keeps its result in the
same history (``run_record``). The checks themselves are reporting.pilot's, looked up there
at run time.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign
from reporting import pilot
from reporting.models import PilotRun, PilotRunStatus
from tenants.models import Tenant
from tenants.services import acting_user

logger = logging.getLogger(__name__)

# A run still "running" this long after it started lost its worker (the task's hard time limit
# has passed); one still "queued" this long never found a worker.
STALE_RUNNING = dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
STALE_QUEUED = dt.timedelta(hours=1)
WAITING_FOR_WORKER = dt.timedelta(seconds=30)


def scope_of(campaign: Campaign | None) -> str:
    return f"campaign:{campaign.pk}" if campaign is not None else "all"


def _checks_data(result: pilot.PilotResult) -> list[dict]:
    return [asdict(check) | {"verdict": check.verdict} for check in result.checks]


def runs_expire(tenant: Tenant | None = None) -> int:
    """Mark runs whose worker is gone as stopped, so a new run of their scope may start: a
    tenant's when one asks for a run, everyone's in the periodic sweep (``runs_resume``). The
    page never does it: a GET does not write."""
    now = timezone.now()
    runs = PilotRun.objects.filter(tenant=tenant) if tenant is not None else PilotRun.objects.all()
    stale = runs.filter(
        Q(status=PilotRunStatus.RUNNING, started_at__lt=now - STALE_RUNNING)
        | Q(status=PilotRunStatus.QUEUED, created_at__lt=now - STALE_QUEUED)
    )
    return stale.update(status=PilotRunStatus.ERROR, error="No worker finished this run.", finished_at=now)


def runs_resume(*, now=None) -> list[int]:
    """Run the runs still queued a minute after they were asked for (their task was lost),
    after marking those whose worker is gone as stopped."""
    now = now or timezone.now()
    runs_expire()
    lost = list(
        PilotRun.objects.filter(
            status=PilotRunStatus.QUEUED,
            created_at__lt=now - WAITING_FOR_WORKER * 2,
            created_at__gte=now - STALE_QUEUED,
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    for run_id in lost:
        run_execute(run_id)
    return lost


def run_request(*, tenant: Tenant, campaign: Campaign | None, actor=None) -> tuple[PilotRun, bool]:
    """The scope's run in progress, or a new queued one (True): asking twice starts one run."""
    runs_expire(tenant)
    scope = scope_of(campaign)
    for _ in range(2):
        active = PilotRun.objects.filter(tenant=tenant, scope=scope, status__in=PilotRun.ACTIVE).first()
        if active is not None:
            return active, False
        try:
            with transaction.atomic():
                run = PilotRun.objects.create(
                    tenant=tenant,
                    campaign=campaign,
                    scope=scope,
                    requested_by=acting_user(actor),
                )
            return run, True
        except IntegrityError:  # another request created it between our read and our insert
            continue
    raise RuntimeError(f"pilot check runs of {scope} keep colliding")


def run_execute(run_id: int) -> PilotRun | None:
    """Run a queued run's checks, storing progress and then the verdicts. Does nothing when the
    run is not queued (done already, or another worker has it): safe to run twice."""
    claimed = PilotRun.objects.filter(pk=run_id, status=PilotRunStatus.QUEUED).update(
        status=PilotRunStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    run = PilotRun.objects.select_related("tenant", "campaign").get(pk=run_id)

    def progress(done: int, total: int, title: str) -> None:
        PilotRun.objects.filter(pk=run_id).update(step=done, steps=total, current=title[:120])

    try:
        if run.scope != "all" and run.campaign is None:
            raise LookupError("its campaign was deleted")
        result = pilot.pilot_check(run.tenant, run.campaign, progress=progress)
    except Exception as error:  # noqa: BLE001 - recorded on the run for the person waiting
        logger.exception("pilot check run %s failed", run_id)
        PilotRun.objects.filter(pk=run_id).update(
            status=PilotRunStatus.ERROR, error=f"{type(error).__name__}: {error}"[:300], finished_at=timezone.now()
        )
    else:
        PilotRun.objects.filter(pk=run_id).update(
            status=PilotRunStatus.DONE,
            step=len(result.checks),
            steps=len(result.checks),
            current="",
            checks=_checks_data(result),
            passed=result.passed,
            finished_at=result.checked_at,
        )
    run.refresh_from_db()
    return run


def run_record(*, result: pilot.PilotResult, source: str = "command") -> PilotRun:
    """Keep a run made outside the worker (the command) in the same history."""
    return PilotRun.objects.create(
        tenant=result.tenant,
        campaign=result.campaign,
        scope=scope_of(result.campaign),
        source=source,
        status=PilotRunStatus.DONE,
        step=len(result.checks),
        steps=len(result.checks),
        checks=_checks_data(result),
        passed=result.passed,
        started_at=result.checked_at,
        finished_at=result.checked_at,
    )
