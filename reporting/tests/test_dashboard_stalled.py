"""The dashboard warns about a running campaign that has made no progress for 10 minutes, and why."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from reporting.dashboard import dashboard
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def running_since(tenant, minutes: int, **fields):
    started = timezone.now() - dt.timedelta(minutes=minutes)
    return CampaignFactory(
        tenant=tenant, status=CampaignStatus.RUNNING, launched_at=started, jobs_created_at=started, **fields
    )


def job(campaign, *, status=JobStatus.PENDING, decided_minutes_ago=None, **fields) -> SendJob:
    now = timezone.now()
    return SendJob.objects.create(
        tenant=campaign.tenant,
        campaign=campaign,
        contact=ContactFactory(tenant=campaign.tenant),
        status=status,
        next_attempt_at=now + dt.timedelta(hours=1),
        decided_at=None if decided_minutes_ago is None else now - dt.timedelta(minutes=decided_minutes_ago),
        **fields,
    )


def stalled_warnings(tenant) -> list[str]:
    return [w for w in dashboard(tenant)["warnings"] if "made no progress" in w]


def test_a_campaign_held_by_a_gate_is_named_with_the_reason(tenant, owner):
    campaign = running_since(tenant, 30, name="Spring")
    job(campaign, status=JobStatus.SENT, decided_minutes_ago=25)
    for _ in range(2):  # deferred again and again: re-deciding is not progress
        job(campaign, decided_minutes_ago=1, gate=Gate.BUDGET, outcome=GateOutcome.DEFER,
            reason="Daily cap reached ($100.00).")  # fmt: skip
    job(campaign, decided_minutes_ago=1, gate=Gate.QUIET_HOURS, outcome=GateOutcome.DEFER, reason="Quiet hours.")
    expected = (
        "Campaign 'Spring' has made no progress for 10 minutes: 3 messages waiting; "
        "2 held at 2. Budget: Defer (Daily cap reached ($100.00))."
    )
    assert stalled_warnings(tenant) == [expected]
    page = html.unescape(client_for(owner).get(reverse("reporting:dashboard")).content.decode())
    assert expected in page


def test_jobs_no_worker_has_looked_at_are_named_too(tenant):
    campaign = running_since(tenant, 15, name="Autumn")
    job(campaign)
    (warning,) = stalled_warnings(tenant)
    assert warning.endswith("1 message waiting; 1 not yet looked at by a sending worker (is the dispatcher running?).")


def test_moving_new_paused_or_finished_campaigns_are_not_warned_about(tenant):
    moving = running_since(tenant, 60)
    job(moving, status=JobStatus.SENT, decided_minutes_ago=2)
    job(moving, gate=Gate.RATE_LIMIT, outcome=GateOutcome.DEFER, reason="Rate limit.", decided_minutes_ago=0)
    job(running_since(tenant, 5))  # launched five minutes ago
    paused = running_since(tenant, 60)
    paused.status = CampaignStatus.PAUSED
    paused.save(update_fields=["status"])
    job(paused)
    job(running_since(tenant, 60), status=JobStatus.UNKNOWN)  # nothing pending: the unknown warning covers it
    assert stalled_warnings(tenant) == []
